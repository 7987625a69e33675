"""``steerbench report RUN_DIR``: re-render summary.csv, figures/ and examples.md from a run."""

from __future__ import annotations

import argparse
from pathlib import Path

from steerbench.errors import SteerbenchError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="re-render summary, figures and examples of a run from its parquet files",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="reports/runs/<run_id> or reports/latest")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir
    if run_dir.name.endswith(".partial"):
        raise SteerbenchError(f"{run_dir}: an unfinished run (its session was interrupted or failed); rerun pytest to finish it")
    from steerbench.report.render import render_run  # pandas and matplotlib load only when needed

    rendered = render_run(run_dir)
    where = run_dir if rendered == [str(run_dir)] else f"{', '.join(rendered)} (and scaling.csv/md in {run_dir})"
    print(f"steerbench: re-rendered summary.csv, figures/ and examples.md in {where}")
    return 0
