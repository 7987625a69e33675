"""Reading and writing prompt files: strict UTF-8, line-numbered errors, canonical atomic writes.

Canonical form (what makes regeneration byte-identical): one JSON object per line, keys sorted,
``ensure_ascii=False``, ``\\n`` line endings, a trailing newline.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from steerbench.errors import DataError


def read_utf8(path: Path) -> str:
    """The file's text; a byte that is not UTF-8 is an error naming its line and byte offset."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror}); check the path") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DataError(
            f"{path}:{line}: not valid UTF-8 (byte {error.start}: 0x{data[error.start]:02x}); "
            "re-save the file as UTF-8"
        ) from None


def iter_json_lines(path: Path, text: str) -> Iterator[tuple[int, Any]]:
    """Yield (line number, decoded value) for every non-blank line; bad JSON names file:line."""
    # split on "\n" only: str.splitlines() would also split on U+2028 inside JSON strings
    for line_number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield line_number, json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}:{line_number}: invalid JSON ({error.msg} at column {error.colno})") from None


def dump_record(record: dict[str, Any]) -> str:
    """One canonical JSON line (no newline)."""
    return json.dumps(record, ensure_ascii=False, sort_keys=True)


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Write records as canonical JSON Lines, atomically (a reader never sees half a file)."""
    write_text_atomic(Path(path), "".join(dump_record(record) + "\n" for record in records))


def write_text_atomic(path: Path, text: str) -> None:
    """Write to a temporary file in the same directory, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", newline="\n", dir=path.parent, prefix=f".{path.name}.", delete=False
    )
    try:
        with handle:
            handle.write(text)
        os.chmod(handle.name, _file_mode(path))  # mkstemp files are 0600; keep normal permissions
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def _file_mode(path: Path) -> int:
    """The existing file's permissions, or the default for a new file under the current umask."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
