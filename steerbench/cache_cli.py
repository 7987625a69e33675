"""``steerbench cache verify`` and ``steerbench cache clear``: the study cache and steerbench's home.

Two places hold cached work: the study cache (``cache_dir``, default ``.steerbench_cache/`` in the
project: directions, completion rows, identity checks; every entry sealed by a ``.sha256`` manifest)
and ``$STEERBENCH_HOME`` (default ``~/.cache/steerbench``: converted models, merged organisms, organism
adapters, direction selections). ``verify`` checks every entry of both by its hashes; ``clear``
removes them (all, or those not used for a while).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from steerbench.config import default_cache_dir
from steerbench.errors import ConfigError


def register(subparsers) -> None:
    parser = subparsers.add_parser("cache", help="verify or clear the study cache and steerbench's home")
    commands = parser.add_subparsers(dest="cache_command", required=True)
    verify = commands.add_parser("verify", help="check every cache entry against its content hashes")
    verify.add_argument("--cache-dir", default=default_cache_dir(), help="the study cache (default: $STEERBENCH_CACHE or .steerbench_cache: %(default)s)")
    verify.set_defaults(func=run_verify)
    clear = commands.add_parser("clear", help="remove cache entries (a later run recomputes them)")
    clear.add_argument("--cache-dir", default=default_cache_dir(), help="the study cache (default: $STEERBENCH_CACHE or .steerbench_cache: %(default)s)")
    clear.add_argument("--older-than", default=None, metavar="AGE",
                       help="only entries not written for this long: 30m, 12h, 7d (default: every entry)")
    clear.add_argument("--home", action="store_true",
                       help="also $STEERBENCH_HOME (converted models, organisms, selections: minutes to rebuild)")
    clear.set_defaults(func=run_clear)


def _study_root(text: str) -> Path:
    root = Path(text)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"--cache-dir {text}: a file, not a directory; name the study cache directory")
    return root


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def study_entries(root: Path):
    """(entry name, problem or None) of every sealed entry of the study cache, and unsealed files."""
    from steerbench.cache import DAMAGED_SUFFIX, MANIFEST_SUFFIX, seal_problem

    covered: set[Path] = set()
    for manifest in sorted(root.rglob(f"*{MANIFEST_SUFFIX}")):
        marker = manifest.with_name(manifest.name[:-len(MANIFEST_SUFFIX)])
        try:
            covered |= {marker.with_name(name) for name in json.loads(manifest.read_text())}
        except (OSError, ValueError, TypeError):
            pass
        covered.add(manifest)
        yield str(marker.relative_to(root)), seal_problem(marker)
    for path in sorted(root.rglob("*")):
        if (path.is_file() and path not in covered and not path.name.endswith((".lock", DAMAGED_SUFFIX, ".tmp"))
                and not path.name.startswith(".")):
            yield str(path.relative_to(root)), "no content hash covers it (it is recomputed when next used)"


def home_entries(home: Path):
    """(entry name, problem or None) of converted models, organisms and selections in steerbench's home."""
    from steerbench.checkpoints import completeness_problem
    from steerbench.organism.build import _read_valid
    from steerbench.selection import _entry_is_sound

    for directory in sorted((home / "models").glob("*")):
        if directory.is_dir() and not directory.name.endswith(".partial"):
            yield f"models/{directory.name}", completeness_problem(directory)
    for directory in sorted((home / "organisms").glob("*")):
        if directory.is_dir():
            sound = _read_valid(directory, directory.name) is not None
            yield f"organisms/{directory.name}", None if sound else "its adapter does not match its record"
    for directory in sorted((home / "selection").glob("*")):
        if directory.is_dir():
            yield (f"selection/{directory.name}",
                   None if _entry_is_sound(directory) else "a file does not match the hash its record holds")


def run_verify(args) -> int:
    from steerbench.checkpoints import steerbench_home

    root, home = _study_root(args.cache_dir), steerbench_home()
    damaged = []
    for label, place, entries in (("study cache", root, study_entries(root) if root.is_dir() else ()),
                                  ("steerbench home", home, home_entries(home) if home.is_dir() else ())):
        entries = list(entries)
        bad = [(name, problem) for name, problem in entries if problem is not None]
        print(f"{label} {place}: {len(entries)} entries, {_human(_size(place))}, {len(bad)} damaged or unsealed")
        damaged += [(place, name, problem) for name, problem in bad]
    for place, name, problem in damaged:
        print(f"  {place / name}: {problem}")
    if damaged:
        print("damaged entries are moved aside and recomputed when next used; `steerbench cache clear` removes "
              "the whole study cache")
        return 1
    return 0


def _age_seconds(text: str) -> float:
    units = {"m": 60, "h": 3600, "d": 86400}
    try:
        value, unit = float(text[:-1]), units[text[-1]]
    except (KeyError, ValueError, IndexError):
        raise ConfigError(f"--older-than {text}: give a number and a unit, e.g. 30m, 12h or 7d") from None
    if not value >= 0:
        raise ConfigError(f"--older-than {text}: give an age >= 0")
    return value * unit


def run_clear(args) -> int:
    from steerbench.checkpoints import steerbench_home

    places = [_study_root(args.cache_dir)] + ([steerbench_home()] if args.home else [])
    cutoff = time.time() - _age_seconds(args.older_than) if args.older_than else None
    for place in places:
        if not place.is_dir():
            print(f"{place}: nothing to clear")
            continue
        freed, removed = 0, 0
        # an entry is a top-level item of each stage directory (a file or a directory such as a model)
        for stage in sorted(p for p in place.iterdir()):
            for item in sorted(stage.iterdir()) if stage.is_dir() else [stage]:
                newest = max([item.stat().st_mtime] + [p.stat().st_mtime for p in item.rglob("*")] if item.is_dir()
                             else [item.stat().st_mtime])
                if cutoff is not None and newest >= cutoff:
                    continue
                freed += _size(item)
                removed += 1
                shutil.rmtree(item) if item.is_dir() else item.unlink()
        print(f"{place}: removed {removed} entries, {_human(freed)} freed")
    return 0
