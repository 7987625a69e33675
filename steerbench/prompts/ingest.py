"""`steerbench prompts ingest`: convert a user CSV / JSON / JSONL file into a prompt file.

Input: one prompt per CSV row (with a header), per JSONL line, or per element of a JSON array. A
`prompt` column/key is required. `id` becomes the prompt id (generated when absent). Columns named
like a meta field (family, style, category, risk_level, expected_behavior, attack_pattern,
language, slice, parent_id) fill that field; a value the taxonomy does not define is replaced by
a catch-all value (e.g. category "uncategorized") and kept as `source_<field>`. Every other column
is kept in meta as is. A nested `meta` object (our own format) is read the same way.

All rows are checked before anything is written, and the output is written atomically, so a bad
input never leaves a partial file behind.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from pathlib import Path
from typing import Any

from steerbench.errors import DataError
from steerbench.prompts.jsonl import iter_json_lines, read_utf8, write_jsonl
from steerbench.prompts.schema import Prompt, PromptMeta, PromptSet
from steerbench.prompts.taxonomy import EXTERNAL_FAMILY, Taxonomy, load_taxonomy

SUPPORTED_SUFFIXES = (".csv", ".json", ".jsonl")
# enumerated field -> value used when the input's value is absent or not in the taxonomy
FALLBACKS = {
    "family": EXTERNAL_FAMILY,
    "style": "unspecified",
    "category": "uncategorized",
    "risk_level": "unknown",
    "attack_pattern": "unspecified",
    "language": "other",
    "slice": "external",
}
ABSENT_DEFAULTS = {**FALLBACKS, "language": "en"}  # a file without a language column is taken as English
MAX_PROBLEMS_IN_ERROR = 20

Row = tuple[int, Any]  # (line number in the input, decoded row)


def ingest_file(source: Path, out: Path, *, split: str | None = None, expected_behavior: str = "refuse",
                taxonomy: Taxonomy | None = None) -> PromptSet:
    """Convert `source` into the canonical JSONL prompt file `out`; nothing is written on any error.

    Args:
        source: a .csv (header row required), .jsonl or .json (array of objects) file.
        out: the .jsonl file to write.
        split: the set's name and the prefix of generated ids (default: `out`'s stem).
        expected_behavior: used for rows without an expected_behavior column.
        taxonomy: allowed meta values (default: the repo's data/taxonomy).
    """
    source, out = Path(source), Path(out)
    if source.resolve() == out.resolve():
        raise DataError(f"{out}: the output must not overwrite the input file")
    prompts = read_prompts(source, split or out.stem, expected_behavior=expected_behavior, taxonomy=taxonomy,
                           nothing_written=f"; nothing was written to {out}")
    write_jsonl(out, (prompt.to_record() for prompt in prompts))
    return prompts


def read_prompts(source: Path, name: str, *, expected_behavior: str = "refuse", taxonomy: Taxonomy | None = None,
                 nothing_written: str = "") -> PromptSet:
    """The prompts of a .csv / .jsonl / .json file as a validated PromptSet named ``name`` (what
    ``ingest_file`` writes; ``--tamper-eval`` reads a red-team file this way without converting it first).

    Raises:
        DataError: every bad row, each with its file and line, and how to fix it.
    """
    source = Path(source)
    taxonomy = taxonomy or load_taxonomy()
    if expected_behavior not in taxonomy.allowed("expected_behavior"):
        allowed = sorted(taxonomy.allowed("expected_behavior"))
        raise DataError(f"--expected-behavior {expected_behavior!r} must be one of {allowed}")
    prompts, problems = _convert(source, read_rows(source), name, expected_behavior, taxonomy)
    if problems:
        shown = problems[:MAX_PROBLEMS_IN_ERROR] + ([f"... and {len(problems) - MAX_PROBLEMS_IN_ERROR} more"]
                                                    if len(problems) > MAX_PROBLEMS_IN_ERROR else [])
        raise DataError(f"{source}: {len(problems)} bad row(s){nothing_written}:\n  " + "\n  ".join(shown))
    if not prompts:
        raise DataError(f"{source}: no prompts found{nothing_written}")
    return PromptSet(name, tuple(prompts))


def read_rows(source: Path) -> list[Row]:
    """Decode the input into line-numbered rows; structural errors (encoding, JSON, header) raise."""
    suffix = source.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataError(
            f"{source}: unsupported file type {suffix or '(none)'!r}; use one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
    text = read_utf8(source)
    if suffix == ".csv":
        return _csv_rows(source, text)
    if suffix == ".jsonl":
        return list(iter_json_lines(source, text))
    return _json_array_rows(source, text)


def _column(name: Any) -> str:
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")


def _csv_rows(source: Path, text: str) -> list[Row]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[Row] = []
    header: list[str] | None = None
    header_line = 0
    previous_end = 0
    try:
        for values in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not values or (len(values) == 1 and not values[0].strip()):
                continue
            if header is None:
                header, header_line = [_column(value) for value in values], start
                _check_header(source, header, header_line)
                continue
            if len(values) != len(header):
                message = f"{len(values)} values but the header (line {header_line}) has {len(header)} columns"
                rows.append((start, message))
                continue
            rows.append((start, dict(zip(header, values))))
    except csv.Error as error:
        raise DataError(f"{source}:{reader.line_num}: malformed CSV ({error})") from None
    if header is None:
        raise DataError(f"{source}: empty file; expected a header row with a 'prompt' column")
    return rows


def _check_header(source: Path, header: list[str], line: int) -> None:
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise DataError(f"{source}:{line}: duplicate column(s) {', '.join(duplicates)} in the header")
    if "prompt" not in header:
        raise DataError(
            f"{source}:{line}: no 'prompt' column (columns: {', '.join(header)}); "
            "rename the column that holds the prompt text to 'prompt'"
        )


def _json_array_rows(source: Path, text: str) -> list[Row]:
    """Elements of a top-level JSON array, each with the line it starts on."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"{source}:{error.lineno}: invalid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(data, list):
        raise DataError(f"{source}:1: expected a JSON array of objects (or use .jsonl, one object per line)")
    decoder, rows, position = json.JSONDecoder(), [], text.index("[") + 1
    for _ in data:  # the text is valid JSON, so walking it element by element cannot fail
        position = _skip_separators(text, position)
        value, end = decoder.raw_decode(text, position)
        rows.append((text.count("\n", 0, position) + 1, value))
        position = end
    return rows


def _skip_separators(text: str, position: int) -> int:
    while text[position] in " \t\r\n,":
        position += 1
    return position


def _convert(source: Path, rows: list[Row], name: str, expected_behavior: str,
             taxonomy: Taxonomy) -> tuple[list[Prompt], list[str]]:
    prompts: list[Prompt] = []
    problems: list[str] = []
    first_line_of_id: dict[str, int] = {}
    for number, (line, row) in enumerate(rows, start=1):
        try:
            prompt = _row_to_prompt(source, line, row, f"{name}_{number:04d}", expected_behavior, taxonomy)
        except ValueError as error:
            problems.append(f"{source}:{line}: {error}")
            continue
        if prompt.id in first_line_of_id:
            first = first_line_of_id[prompt.id]
            problems.append(f"{source}:{line}: duplicate id {prompt.id!r} (first used on line {first})")
            continue
        first_line_of_id[prompt.id] = line
        prompts.append(prompt)
    return prompts, problems


def _row_to_prompt(source: Path, line: int, row: Any, default_id: str, expected_behavior: str,
                   taxonomy: Taxonomy) -> Prompt:
    """One row as a Prompt; a ValueError names what is wrong with the row."""
    if isinstance(row, str):  # a row-level problem found while reading (CSV column count)
        raise ValueError(row)
    if not isinstance(row, dict):
        raise ValueError(f"expected an object with a 'prompt' key, got {type(row).__name__}")
    fields = {_column(key): value for key, value in row.items() if key != "meta"}
    if isinstance(row.get("meta"), dict):
        fields.update({_column(key): value for key, value in row["meta"].items()})
    if "prompt" not in fields:
        raise ValueError("missing 'prompt'")
    text = fields.pop("prompt")
    fields = {key: value for key, value in fields.items() if value is not None and value != ""}
    if not isinstance(text, str):
        raise ValueError(f"prompt must be text, got {type(text).__name__}")
    if not text.strip():
        raise ValueError("empty prompt")
    raw_id = fields.pop("id", default_id)
    if not isinstance(raw_id, (str, int)) or isinstance(raw_id, bool):  # true -> "True", 3.0 -> "3.0", 1e3 -> "1000.0"
        raise ValueError(f"id {json.dumps(raw_id)} is a {type(raw_id).__name__}; give ids as text (\"3.0\") or integers")
    for name, value in (("prompt", text), ("id", str(raw_id)), *((k, v) for k, v in fields.items() if isinstance(v, str))):
        bad = next((char for char in value if unicodedata.category(char) == "Cc" and char not in "\t\n\r"), None)
        if bad is not None:
            raise ValueError(f"{name} holds the control character U+{ord(bad):04X}; remove it (only tab and newlines "
                             "are kept)")
    prompt_id = str(raw_id).strip()
    if not prompt_id or any(char.isspace() for char in prompt_id):
        raise ValueError(f"id {prompt_id!r} must be non-empty and contain no whitespace")
    return Prompt(id=prompt_id, prompt=text, meta=_meta(fields, expected_behavior, taxonomy, f"{source.name}:{line}"))


def _meta(fields: dict[str, Any], expected_behavior: str, taxonomy: Taxonomy, source: str) -> PromptMeta:
    extra: dict[str, Any] = {"ingested_from": source}
    named: dict[str, str] = {}
    for field, fallback in FALLBACKS.items():
        if field not in fields:
            named[field] = ABSENT_DEFAULTS[field]
            continue
        original = fields.pop(field)
        value = _column(original)
        named[field] = value if value in taxonomy.allowed(field) else fallback
        if named[field] != value:
            extra[f"source_{field}"] = original
    if "expected_behavior" in fields:
        value = _column(fields.pop("expected_behavior"))
        if value not in taxonomy.allowed("expected_behavior"):
            allowed = sorted(taxonomy.allowed("expected_behavior"))
            raise ValueError(f"expected_behavior {value!r} is not one of {allowed}")
        expected_behavior = value
    parent_id = fields.pop("parent_id", None)
    if parent_id is not None and (not isinstance(parent_id, (str, int)) or isinstance(parent_id, bool)):
        raise ValueError(f"parent_id {json.dumps(parent_id)} is a {type(parent_id).__name__}; give ids as text or integers")
    if parent_id is not None and (not str(parent_id).strip() or any(char.isspace() for char in str(parent_id).strip())):
        raise ValueError(f"parent_id {parent_id!r} must contain no whitespace")
    extra.update({key: _scalar(value) for key, value in fields.items()})
    return PromptMeta(
        **named,
        expected_behavior=expected_behavior,
        parent_id=None if parent_id is None else str(parent_id).strip(),
        extra=tuple(sorted(extra.items())),
    )


def _scalar(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False, sort_keys=True) if isinstance(value, (dict, list)) else value
