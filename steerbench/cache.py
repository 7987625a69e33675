"""On-disk cache of expensive stage outputs, keyed by a hash of every input (DESIGN.md data flow).

Writers take a per-key file lock so parallel pytest-xdist workers compute each entry once; every
file is written to a temporary name and renamed into place, so a killed run never leaves an entry
that looks complete. Every entry is *sealed*: a manifest ``<marker>.sha256`` holds the SHA-256 of
each of its files, written last; an entry whose manifest is missing or disagrees with its files
(truncated, bit-flipped, swapped) is reported in one line, moved aside and recomputed, never used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from steerbench.checkpoints import file_digest

# Bump when a stage's output for the same inputs changes (engine, metrics or row layout).
CODE_VERSION = "2026-11-22.2"


def key_of(parts: dict[str, Any]) -> str:
    """A stable hash of JSON-able inputs (with the code version mixed in)."""
    canonical = json.dumps({"code_version": CODE_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an inter-process lock tied to ``path`` (a sibling ``.lock`` file)."""
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        yield


def request_key(request: Any) -> str:
    """The cache key of a frozen request dataclass: every field, by construction (no input left out)."""
    import dataclasses

    if not (dataclasses.is_dataclass(request) and request.__dataclass_params__.frozen):
        raise TypeError(f"request_key takes a frozen dataclass, got {type(request).__name__}")
    return key_of({"request": type(request).__name__, **dataclasses.asdict(request)})


MANIFEST_SUFFIX = ".sha256"
DAMAGED_SUFFIX = ".damaged"


def manifest_of(marker: Path) -> Path:
    return marker.with_name(marker.name + MANIFEST_SUFFIX)


def seal(marker: Path, files: Sequence[Path]) -> None:
    """Write the manifest of the entry whose completeness ``marker`` stands for (last, atomically)."""
    digests = {Path(f).name: file_digest(Path(f)) for f in files}
    atomic_write(manifest_of(marker), lambda tmp: tmp.write_text(json.dumps(digests, indent=1, sort_keys=True)))


def seal_problem(marker: Path) -> str | None:
    """None when the entry's manifest names files that are all there with their digests; else what is wrong."""
    manifest = manifest_of(marker)
    try:
        digests = json.loads(manifest.read_text())
    except FileNotFoundError:
        return "it has no content hash (written by an older steerbench, or cut off before it was sealed)"
    except (OSError, ValueError):
        return "its content hash file is unreadable"
    if not isinstance(digests, dict) or Path(marker).name not in digests:
        return "its content hash file does not cover it"
    for name, digest in digests.items():
        path = Path(marker).with_name(name)
        if not path.is_file():
            return f"{name} is missing"
        if file_digest(path) != digest:
            return f"{name} does not match its content hash (truncated, damaged or replaced)"
    return None


def set_aside(marker: Path, problem: str, report: Callable[[str], None] | None = None) -> None:
    """Move a damaged entry's files (those its manifest names, the marker, the manifest) aside."""
    names = {Path(marker).name, manifest_of(marker).name}
    try:
        names |= set(json.loads(manifest_of(marker).read_text()))
    except (OSError, ValueError, TypeError):
        pass
    for name in sorted(names):
        path = Path(marker).with_name(name)
        if path.is_file():
            os.replace(path, path.with_name(f".{name}{DAMAGED_SUFFIX}"))
    if report is None:
        from steerbench.progress import report
    report(f"cache entry {marker} is damaged: {problem}; moved aside ({DAMAGED_SUFFIX}) and recomputed")


def cached(path: Path, compute: Callable[[Path], None], *, done: Path | None = None,
           lock: Path | None = None, files: Callable[[], Sequence[Path]] | None = None) -> Path:
    """``path``, computed at most once: check, lock, check again, ``compute(tmp)``, rename onto ``path``.

    The one implementation of the cache's write protocol (pipeline stages call it). ``compute``
    writes the entry to the temporary path it is given; it is renamed into place only when
    ``compute`` returns, so a killed worker never leaves an entry that looks complete. For a stage
    that writes several files itself, pass ``done`` (the file whose existence means the stage is
    complete) and ``lock`` (one lock for the group); ``compute`` then receives ``path`` and writes
    atomically on its own, and seals it (``seal``) unless ``files`` says which files to seal.
    A sealed entry is verified on every read; a damaged one is set aside and recomputed.
    """
    marker = done or path
    if marker.exists() and seal_problem(marker) is None:
        return path
    with locked(lock or path):
        if marker.exists():
            problem = seal_problem(marker)
            if problem is None:
                return path
            set_aside(marker, problem)
        if done is not None:
            compute(path)
            if files is not None:
                seal(marker, files())
        else:
            atomic_write(path, compute)
            seal(path, [path])
    return path
