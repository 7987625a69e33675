"""On-disk cache of expensive stage outputs, keyed by a hash of every input (DESIGN.md data flow).

Writers take a per-key file lock so parallel pytest-xdist workers compute each entry once; every
file is written to a temporary name and renamed into place, so a killed run never leaves an entry
that looks complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator

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


def cached(path: Path, compute: Callable[[Path], None], *, done: Path | None = None,
           lock: Path | None = None) -> Path:
    """``path``, computed at most once: check, lock, check again, ``compute(tmp)``, rename onto ``path``.

    The one implementation of the cache's write protocol (pipeline stages call it). ``compute``
    writes the entry to the temporary path it is given; it is renamed into place only when
    ``compute`` returns, so a killed worker never leaves an entry that looks complete. For a stage
    that writes several files itself, pass ``done`` (the file whose existence means the stage is
    complete) and ``lock`` (one lock for the group); ``compute`` then receives ``path`` and writes
    atomically on its own.
    """
    marker = done or path
    if marker.exists():
        return path
    with locked(lock or path):
        if marker.exists():
            return path
        if done is not None:
            compute(path)
        else:
            atomic_write(path, compute)
    return path
