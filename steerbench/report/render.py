"""Render summary.csv, figures/ and examples.md of a run directory from its parquet files.

Every output is written to a temporary sibling and moved into place with ``os.replace``, so a
reader never sees a half-written file, and re-rendering an existing run is safe.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pandas as pd

from steerbench.errors import SteerbenchError
from steerbench.records import EVAL_COLUMNS
from steerbench.report import figures, tampering
from steerbench.report.examples import render_examples, render_tampering_examples
from steerbench.report.tables import (
    BASELINE,
    RESULT_COLUMNS,
    ROW_KEY,
    arditi_markdown,
    arditi_table,
    best_operating_point,
    breakdowns,
    cell_stats,
    main_rows,
    steering_rows,
    tampering_rows,
    operating_points,
    summary_table,
)

RUN_FILES = ("results.parquet", "evals.parquet", "run.json")
POSITIVE_CONTROL_HEADER = (
    "# Positive control: Arditi et al. 2024 on this run's selected direction\n\n"
    "Refusal score = refusal rate (the detector's outcome); safety score = 1 - rate of non-degenerate answers "
    "that are not refusals (the paper uses Llama Guard 2, unavailable offline: every answer to a harmful "
    "request counts as unsafe). 95% Wilson intervals. The random rows pool the null's norm-matched draws.\n\n")
# Columns the report cannot do without; the others are filled with NaN when absent.
REQUIRED_COLUMNS = (*ROW_KEY, "layer", "intervention", "alpha", "refused", "is_helpful", "outcome")


def atomic_write_text(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _save_figure(figure, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    figure.savefig(temporary, format="png", dpi=150, bbox_inches="tight")
    os.replace(temporary, path)


def _check_run_dir(run_dir: Path) -> None:
    missing = [name for name in RUN_FILES if not (run_dir / name).is_file()]
    if not run_dir.is_dir() or missing:
        what = ("a file, not a directory" if run_dir.is_file() else "does not exist" if not run_dir.is_dir()
                else f"lacks {', '.join(missing)}")
        raise SteerbenchError(f"{run_dir}: not a complete steerbench run directory ({what}); pass reports/runs/<run_id> or reports/latest")


def read_run_json(path: Path) -> dict:
    """A run.json (``path``), checked to be a JSON object."""
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        where = f":{error.lineno}" if isinstance(error, json.JSONDecodeError) else ""
        raise SteerbenchError(f"{path}{where}: not valid JSON ({getattr(error, 'msg', error)}); "
                              "the run directory is damaged: re-run the session that wrote it") from None
    if not isinstance(run, dict):
        raise SteerbenchError(f"{path}: expected a JSON object; the run directory is damaged")
    return run


def read_run(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """results, evals and run.json of a run directory (columns completed to the contract)."""
    _check_run_dir(run_dir)
    results = _read_parquet(run_dir / "results.parquet")
    absent = [column for column in REQUIRED_COLUMNS if column not in results.columns]
    if absent and len(results):
        raise SteerbenchError(f"{run_dir / 'results.parquet'}: missing columns {', '.join(absent)}; see docs/CONTRACTS.md")
    for column in RESULT_COLUMNS:
        if column not in results.columns:
            results[column] = math.nan
    evals = _read_parquet(run_dir / "evals.parquet")
    for column in EVAL_COLUMNS:
        if column not in evals.columns:
            evals[column] = math.nan
    return results, evals, read_run_json(run_dir / "run.json")


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as error:  # pyarrow raises its own error types for every kind of damage
        raise SteerbenchError(f"{path}: not a readable parquet file ({type(error).__name__}); the run directory is "
                              "damaged: re-run the session that wrote it") from None


def render_run(run_dir: Path | str) -> list[str]:
    """Render a run directory: the single-model report, or for a cross-model run (run.json
    ``config.models``) each model's report under ``models/<model>/`` and the comparison (scaling.csv,
    scaling.md, figures/scaling_*.png). Returns the rendered directories."""
    from steerbench.report.run_dir import model_dir_name

    run_dir = Path(run_dir)
    _check_run_dir(run_dir)  # run.json decides the layout; the (possibly large) parquet files are read per model
    models = list(read_run_json(run_dir / "run.json").get("config", {}).get("models") or ())
    if not models:
        render_report(run_dir)
        return [str(run_dir)]
    from steerbench.report.scaling import write_scaling

    rendered = []
    for model in models:
        render_report(run_dir / "models" / model_dir_name(model))
        rendered.append(str(run_dir / "models" / model_dir_name(model)))
    write_scaling(run_dir)
    return rendered


def render_report(run_dir: Path | str) -> None:
    """Write summary.csv, figures/*.png and examples.md of ``run_dir`` from its parquet files.

    Raises:
        SteerbenchError: ``run_dir`` is missing or lacks results.parquet, evals.parquet or run.json.
    """
    run_dir = Path(run_dir)
    results, evals, run = read_run(run_dir)
    seed = int(run.get("config", {}).get("seed", 0))
    attacked_rows = tampering_rows(results)
    all_results = steering_rows(results)
    results = main_rows(all_results, seed)
    stats = cell_stats(results)
    summary = summary_table(results, seed)
    atomic_write_text(run_dir / "summary.csv", summary.to_csv(index=False, float_format="%.6g", lineterminator="\n"))

    figure_dir = run_dir / "figures"
    figure_dir.mkdir(exist_ok=True)
    points = operating_points(results, stats, seed) if len(stats) else None
    best, constraint_met = best_operating_point(points) if points is not None else (None, False)
    for name, build in _figure_builders(results, evals, stats, points).items():
        _save_figure(build(), figure_dir / name)
    examples = render_examples(results, best, constraint_met, run)
    if len(attacked_rows):
        examples += "\n" + render_tampering_examples(attacked_rows)
    atomic_write_text(run_dir / "examples.md", examples)
    control = arditi_markdown(arditi_table(all_results, seed))
    if control:
        atomic_write_text(run_dir / "positive_control.md", POSITIVE_CONTROL_HEADER + control)
    if len(attacked_rows):  # the tampering question ran: its grid table and figures
        grid = tampering.results_grid(attacked_rows, str(run.get("config", {}).get("model", "")))
        atomic_write_text(run_dir / "results_grid.csv", grid.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
        for name, build in tampering.figure_builders(grid, evals).items():
            _save_figure(build(), figure_dir / name)


def _figure_builders(results, evals, stats, points) -> dict:
    if points is None:  # an empty run: placeholders keep the file names stable
        return {name: _placeholder for name in figures.FIGURE_NAMES}
    return {
        "generalization_gap_vs_alpha.png": lambda: figures.generalization_gap(stats, evals),
        "tradeoff_refusal_vs_helpfulness.png": lambda: figures.tradeoff(points),
        "heatmap_harm_test_refusal.png": lambda: figures.heatmap(
            stats, "harm_test", "refusal_rate", "Refusal rate on harm_test (held-out family)", "refusal rate"
        ),
        "heatmap_benign_helpfulness.png": lambda: figures.heatmap(
            stats, "benign", "helpful_rate", "Helpful-answer rate on benign prompts", "helpful rate"
        ),
        "rrr_ce_vs_alpha.png": lambda: figures.rrr_ce(stats),
        "confounds.png": lambda: figures.confounds(stats, results),
        "refusal_by_family_and_slice.png": lambda: figures.breakdown(breakdowns(results, _shown_cells(points))),
    }


def _shown_cells(points) -> list[str]:
    best, _ = best_operating_point(points)
    return [BASELINE] + ([best["cell"]] if best is not None else [])


def _placeholder():
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5, 2), dpi=150)
    axes = figure.subplots()
    return figures._empty(figure, axes, "this run recorded no per-completion rows")
