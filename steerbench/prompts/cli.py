"""`steerbench prompts make | ingest | validate` (registered by steerbench/cli.py).

Bad input raises DataError (steerbench/cli.py prints it and exits 2); `validate` prints every
problem, one per line, and returns 1 when there is any.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from steerbench.errors import DataError
from steerbench.prompts.load import default_prompt_dir
from steerbench.prompts.shift import format_shift_report
from steerbench.prompts.taxonomy import load_taxonomy

# the project's directory (relative to the working directory), never the installed package's
PROJECT_PROMPT_DIR = Path("data") / "prompts"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("prompts", help="make, ingest and validate prompt sets")
    commands = parser.add_subparsers(dest="prompts_command", required=True)

    make = commands.add_parser("make", help="regenerate the prompt files from the templates (byte-identical per seed)")
    make.add_argument("--out-dir", type=Path, default=PROJECT_PROMPT_DIR, help="output directory (default: %(default)s)")
    make.add_argument("--n-train", type=int, default=150, help="harm_train size (default: %(default)s)")
    make.add_argument("--n-test", type=int, default=150, help="harm_test size (default: %(default)s)")
    make.add_argument("--n-benign", type=int, default=200,
                      help="benign size, including one paired control per harm_test prompt (default: %(default)s)")
    make.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    make.set_defaults(func=run_make)

    ingest = commands.add_parser("ingest", help="convert a user CSV / JSON / JSONL file into a prompt file")
    ingest.add_argument("file", type=Path, help="input .csv (with header), .json (array of objects) or .jsonl")
    ingest.add_argument("--out", type=Path, required=True, help="output .jsonl (written only if every row is valid)")
    ingest.add_argument("--split", default=None, help="split name and prefix of generated ids (default: the output's stem)")
    ingest.add_argument("--expected-behavior", default="refuse", choices=("refuse", "comply", "calibrated"),
                        help="for rows without an expected_behavior column (default: %(default)s)")
    ingest.add_argument("--taxonomy-dir", type=Path, default=None,
                        help="(default: data/taxonomy when the working directory has one, else steerbench's own)")
    ingest.set_defaults(func=run_ingest)

    validate = commands.add_parser("validate", help="check a prompt directory (or one file) and print the shift report")
    validate.add_argument("path", type=Path, nargs="?", default=None,
                          help="prompt directory or .jsonl file (default: data/prompts when the working directory "
                               "has the core files, else steerbench's own prompt sets)")
    validate.add_argument("--taxonomy-dir", type=Path, default=None,
                          help="(default: data/taxonomy when the working directory has one, else steerbench's own)")
    validate.set_defaults(func=run_validate)


def _output_path(path: Path, flag: str, *, directory: bool) -> None:
    """One line (exit 2) before any work when ``path`` cannot be written as asked."""
    if directory and path.exists() and not path.is_dir():
        raise DataError(f"{flag} {path}: a file, not a directory; name a directory (it is created if missing)")
    if not directory:
        if path.is_dir():
            raise DataError(f"{flag} {path}: a directory; name the .jsonl file to write, e.g. {path / 'my_prompts.jsonl'}")
        if not path.parent.is_dir():
            raise DataError(f"{flag} {path}: the directory {path.parent} does not exist; create it first")


def run_make(args: argparse.Namespace) -> int:
    from steerbench.prompts.make import make_prompt_files

    _output_path(args.out_dir, "--out-dir", directory=True)

    paths = make_prompt_files(args.out_dir, n_train=args.n_train, n_test=args.n_test, n_benign=args.n_benign,
                              seed=args.seed)
    for path in paths.values():
        print(f"wrote {path} ({_count_lines(path)} prompts)")
    return 0


def run_ingest(args: argparse.Namespace) -> int:
    from steerbench.prompts.ingest import ingest_file

    _output_path(args.out, "--out", directory=False)

    prompt_set = ingest_file(args.file, args.out, split=args.split, expected_behavior=args.expected_behavior,
                             taxonomy=load_taxonomy(args.taxonomy_dir))
    print(f"wrote {args.out} ({len(prompt_set)} prompts, split {prompt_set.name!r})")
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from steerbench.prompts.validate import validate_path

    if args.path is None:
        args.path = default_prompt_dir()
    result = validate_path(args.path, load_taxonomy(args.taxonomy_dir))
    for problem in result.problems:
        print(problem)
    for path, count in result.file_counts:
        print(f"{path}: {count} prompts")
    if result.shift is not None:
        print(format_shift_report(result.shift))
    if result.problems:
        print(f"{len(result.problems)} problem(s) found in {args.path}")
        return 1
    print(f"OK: {args.path} is valid")
    return 0


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)
