"""Loading prompt files into `PromptSet`s (what the harness uses).

The loader checks the record schema and id uniqueness and fails on the first bad file with every
problem named as file:line. Taxonomy values, sizes and parent links are the job of
`steerbench prompts validate` (steerbench/prompts/validate.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from steerbench.errors import DataError
from steerbench.prompts.jsonl import iter_json_lines, read_utf8
from steerbench.prompts.schema import Prompt, PromptSet, prompt_from_record, record_problems

# the committed study data: <repo>/data/prompts (this file is <repo>/steerbench/prompts/load.py)
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "prompts"
CORE_SPLITS = ("harm_train", "harm_test", "benign")
MAX_PROBLEMS_IN_ERROR = 10


@dataclass(frozen=True)
class ParsedFile:
    """A prompt file read leniently: the records that parsed, and every problem found."""

    path: Path
    prompts: tuple[Prompt, ...]
    line_numbers: tuple[int, ...]  # line_numbers[i] is the line of prompts[i]
    problems: tuple[str, ...]  # "path:line: message"

    def location(self, index: int) -> str:
        return f"{self.path}:{self.line_numbers[index]}"


def parse_prompt_file(path: Path) -> ParsedFile:
    """Read a JSONL prompt file, collecting problems instead of stopping at the first.

    Unreadable files, bad encoding and malformed JSON stop parsing (one problem); schema problems
    and duplicate ids are collected per line.
    """
    path = Path(path)
    prompts: list[Prompt] = []
    line_numbers: list[int] = []
    problems: list[str] = []
    first_line_of_id: dict[str, int] = {}
    try:
        lines = list(iter_json_lines(path, read_utf8(path)))
    except DataError as error:
        return ParsedFile(path, (), (), (str(error),))
    for line_number, record in lines:
        record_issues = record_problems(record)
        problems += [f"{path}:{line_number}: {issue}" for issue in record_issues]
        if record_issues:
            continue
        prompt = prompt_from_record(record)
        if prompt.id in first_line_of_id:
            problems.append(
                f"{path}:{line_number}: duplicate id {prompt.id!r} (first used on line {first_line_of_id[prompt.id]})"
            )
            continue
        first_line_of_id[prompt.id] = line_number
        prompts.append(prompt)
        line_numbers.append(line_number)
    if not lines:
        problems.append(f"{path}: no prompts in file")
    return ParsedFile(path, tuple(prompts), tuple(line_numbers), tuple(problems))


def load_prompt_file(path: Path, name: str | None = None) -> PromptSet:
    """Load a JSONL prompt file; any problem raises DataError naming file:line.

    Args:
        path: the .jsonl file.
        name: the set's name; defaults to the file name without its suffix.
    """
    parsed = parse_prompt_file(Path(path))
    if parsed.problems:
        shown = list(parsed.problems[:MAX_PROBLEMS_IN_ERROR])
        more = len(parsed.problems) - len(shown)
        if more:
            shown.append(f"... and {more} more")
        raise DataError(
            f"{len(parsed.problems)} problem(s) in {path}; run `steerbench prompts validate {path}`:\n  "
            + "\n  ".join(shown)
        )
    return PromptSet(name=name or Path(path).stem, prompts=parsed.prompts)


def load_split(name: str, data_dir: Path | None = None) -> PromptSet:
    """Load ``<data_dir>/<name>.jsonl``; `data_dir` defaults to the repo's data/prompts.

    The harness uses "harm_train", "harm_test" and "benign"; "perturbations" and "distill_stress"
    hold the diagnostic slices.
    """
    directory = Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR
    path = directory / f"{name}.jsonl"
    if not path.is_file():
        available = sorted(candidate.stem for candidate in directory.glob("*.jsonl"))
        raise DataError(
            f"{path}: no such prompt split {name!r}; available in {directory}: "
            f"{', '.join(available) or 'none'} (create them with `steerbench prompts make`)"
        )
    return load_prompt_file(path, name=name)
