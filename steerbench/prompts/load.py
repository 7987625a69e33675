"""Loading prompt files into `PromptSet`s (what the harness uses).

The loader checks the record schema and id uniqueness and fails on the first bad file with every
problem named as file:line. Taxonomy values, sizes and parent links are the job of
`steerbench prompts validate` (steerbench/prompts/validate.py).

Where the files are: a project's own ``data/prompts/`` (the pytest rootdir, or the working
directory) when it holds any of the three core files, else the prompt sets the package ships
(steerbench/data_files.py). The study's config may name other files (``--prompts DIR``,
``data.harm_train_path`` ...); steerbench.config resolves those.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from steerbench.data_files import packaged_data_dir, project_data_dir
from steerbench.errors import DataError
from steerbench.prompts.jsonl import iter_json_lines, read_utf8
from steerbench.prompts.schema import Prompt, PromptSet, prompt_from_record, record_problems

# the package's own prompt sets (<checkout>/data/prompts, or steerbench/_data/prompts in a wheel)
DEFAULT_DATA_DIR = packaged_data_dir() / "prompts"
from steerbench.vocab import CORE_SPLITS  # noqa: E402
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


def default_prompt_dir(root: Path | str | None = None) -> Path:
    """``<root>/data/prompts`` when it holds any core prompt file, else the packaged prompt sets.

    ``root`` is the project (the pytest rootdir; default: the working directory). The three core
    files go together: a project directory with some of them is used for all of them (and a
    missing one is an error, see `default_split_path`), never topped up from the package.
    """
    own = project_data_dir(root) / "prompts"
    return own if any((own / f"{split}.jsonl").is_file() for split in CORE_SPLITS) else DEFAULT_DATA_DIR


def default_split_path(name: str, root: Path | str | None = None) -> Path:
    """The file a core split is read from when the config names none (see `default_prompt_dir`).

    Raises:
        DataError: the chosen directory lacks the file; the message says what to add or set.
    """
    directory = default_prompt_dir(root)
    path = directory / f"{name}.jsonl"
    if path.is_file():
        return path
    if directory == DEFAULT_DATA_DIR:
        raise DataError(f"{path}: steerbench's packaged prompt set is missing; reinstall steerbench, "
                        f"or give your own files with --prompts DIR or data.{name}_path")
    present = ", ".join(f"{split}.jsonl" for split in CORE_SPLITS if (directory / f"{split}.jsonl").is_file())
    raise DataError(f"{path}: not found, but {directory} holds {present}; add {name}.jsonl there "
                    f"(`steerbench prompts make --out-dir {directory}` writes all three), "
                    f"or set data.{name}_path or --prompts DIR")


def check_prompt_file(path: Path, split: str) -> None:
    """Raise a one-line DataError at the first problem of a core prompt file (file:line: what, how to fix)."""
    problems = parse_prompt_file(Path(path)).problems
    if problems:
        more = f" ({len(problems) - 1} more problem(s) in the file)" if len(problems) > 1 else ""
        raise DataError(f"{problems[0]}{more}; fix the {split} prompt file (`steerbench prompts validate {path}` "
                        f"lists every problem) or point data.{split}_path / --prompts at another one")


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes (run.json records it for every prompt file the study read)."""
    from steerbench.checkpoints import file_digest

    return file_digest(Path(path))


def load_split(name: str, data_dir: Path | None = None, *, root: Path | str | None = None) -> PromptSet:
    """Load ``<data_dir>/<name>.jsonl``.

    The harness uses "harm_train", "harm_test" and "benign"; "perturbations" and "distill_stress"
    hold the diagnostic slices.

    Args:
        name: the split.
        data_dir: the directory; defaults to `default_prompt_dir(root)` (the project's
            data/prompts, else the packaged prompt sets).
        root: the project directory (default: the working directory).
    """
    directory = Path(data_dir) if data_dir is not None else default_prompt_dir(root)
    path = directory / f"{name}.jsonl"
    if not path.is_file():
        available = sorted(candidate.stem for candidate in directory.glob("*.jsonl"))
        raise DataError(
            f"{path}: no such prompt split {name!r}; available in {directory}: "
            f"{', '.join(available) or 'none'} (create them with `steerbench prompts make`)"
        )
    return load_prompt_file(path, name=name)
