"""Write a run directory atomically: ``<results_dir>/runs/<run_id>/`` and ``<results_dir>/latest/``.

Everything is written into ``runs/.<run_id>.partial/`` and renamed into place at the end, so a
directory named like a run is always complete; an interrupted or failed write leaves at most a
``.partial`` directory (removed when possible). ``latest/`` is refreshed by copying the run to a
sibling temporary directory and swapping it in.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd

from steerbench.errors import SteerbenchError
from steerbench.records import EVAL_COLUMNS
from steerbench.report.tables import RESULT_COLUMNS, ROW_KEY, row_key

ROW_ORDER = ["model", "split", "cell", "variant", "seed", "attack", "attack_steps", "attack_seed", "prompt_id", "sample_index"]
# every package whose numerics reach a row: the model stack, MiniLM's (sentence-transformers, tokenizers)
# and the fitted stages' (scikit-learn, scipy); constraints.txt pins the tested set
VERSIONED_PACKAGES = ("steerbench", "torch", "transformers", "transformer_lens", "peft", "tokenizers",
                      "sentence-transformers", "scikit-learn", "scipy", "numpy", "pandas", "pytest", "pytest-xdist")


def gather_rows(row_files: list[tuple[str, str]] | list[str]) -> pd.DataFrame:
    """Concatenate per-completion row files: deduplicated by path and by row key, sorted.

    ``row_files`` are (path, model alias) pairs (a bare path: model ""); the alias becomes the rows'
    ``model`` column. The row key is (prompt_id, split, cell, sample_index), plus model, variant and
    seed when present. The order depends only on the rows (model, split, cell, variant, seed,
    prompt_id, sample_index), never on which worker recorded which file, so ``-n 0`` and ``-n 4``
    produce the same results.parquet.

    A row two files hold is taken from the larger file: a standalone sample of a split (the sanity checks')
    has the split's completions but floats rounded with other batch neighbours (~1e-5 nats), so a run's
    rows of the whole split do not depend on whether a sample of it was also recorded.
    """
    frames = []
    pairs = [(p, "") if isinstance(p, (str, Path)) else tuple(p) for p in row_files]
    for path, model in sorted({(str(Path(p).resolve()), str(m)) for p, m in pairs}):
        if not Path(path).is_file():
            raise SteerbenchError(f"{path}: a recorded row file is gone (cache cleared mid-run?); rerun the session")
        frame = pd.read_parquet(path)
        missing = [column for column in ROW_KEY if column not in frame.columns]
        if missing:
            raise SteerbenchError(f"{path}: row file lacks key columns {', '.join(missing)}; see docs/CONTRACTS.md")
        if len(frame):
            frames.append(frame.assign(model=model))
    if not frames:
        return pd.DataFrame({column: pd.Series(dtype="object") for column in RESULT_COLUMNS})
    frames.sort(key=len, reverse=True)  # stable: equal sizes keep the path order
    rows = pd.concat(frames, ignore_index=True)
    rows = rows.drop_duplicates(subset=row_key(rows.columns), keep="first")
    rows = rows.sort_values([c for c in ROW_ORDER if c in rows.columns], kind="stable").reset_index(drop=True)
    ordered = [c for c in RESULT_COLUMNS if c in rows.columns] + [c for c in rows.columns if c not in RESULT_COLUMNS]
    return rows[ordered]


def evals_frame(evals: list[dict[str, Any]]) -> pd.DataFrame:
    """evals.parquet: the recorded eval rows in contract column order, sorted by (test_id, metric)."""
    frame = pd.DataFrame(with_adjusted_p(evals), columns=list(EVAL_COLUMNS))
    if len(frame):
        frame = frame.astype({"layer": "int64", "n": "int64", "alpha": "float64", "value": "float64",
                              "ci_low": "float64", "ci_high": "float64", "threshold": "float64",
                              "p_value": "float64", "p_holm": "float64", "q_bh": "float64"})  # fmt: skip
    frame["stratum"] = frame["stratum"].fillna("") if len(frame) else frame["stratum"]
    return frame.sort_values(["test_id", "metric", "stratum"], kind="stable").reset_index(drop=True)


def with_adjusted_p(evals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records with ``p_holm`` (Holm) and ``q_bh`` (Benjamini-Hochberg) over every gated verdict of the run.

    The family is every record with a p-value (every gated verdict, sanity included); ungated
    metrics carry NaN.
    """
    from steerbench.stats import benjamini_hochberg, holm_adjust

    p = [float(r.get("p_value", math.nan)) for r in evals]
    p = [math.nan if x is None else x for x in p]
    return [{**r, "p_value": x, "p_holm": h, "q_bh": q} for r, x, h, q in zip(evals, p, holm_adjust(p), benjamini_hochberg(p))]


def environment(rootdir: Path) -> dict[str, Any]:
    """Versions of python and the key packages, the platform, and the git commit of ``rootdir``."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    if versions["steerbench"] is None:  # running from a checkout that is not pip-installed
        import steerbench

        versions["steerbench"] = steerbench.__version__
    import torch

    # the kernels torch dispatched to (AVX2 / AVX512 ...): float results differ in the last digits
    # between them, so an exact comparison of two runs needs the same value here
    return {"versions": versions, "platform": platform.platform(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "git": _git(rootdir)}


def _git(rootdir: Path) -> dict[str, Any]:
    def run(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=rootdir, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    status = run("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def unique_run_dir(results_dir: Path, run_id: str) -> Path:
    """``runs/<run_id>``, suffixed ``-2``, ``-3``... when a run of the same second and config exists."""
    runs = results_dir / "runs"
    candidate, suffix = runs / run_id, 2
    while candidate.exists() or (runs / f".{candidate.name}.partial").exists():
        candidate, suffix = runs / f"{run_id}-{suffix}", suffix + 1
    return candidate


def write_run(
    run_dir: Path, *, row_files: list[str], evals: list[dict[str, Any]], run_json: dict[str, Any],
    artifacts: list[str] = (),
) -> str | None:
    """Write a complete run directory at ``run_dir`` (via ``.partial``), then refresh ``latest``.

    ``artifacts`` (files evals recorded: direction figures, selection scores) are copied into
    ``directions/`` under their own names.

    Returns:
        None, or a one-line message when rendering the report failed (the data is still written and
        ``steerbench report <run_dir>`` can re-render it).
    """
    from steerbench.report.render import render_run

    partial = run_dir.with_name(f".{run_dir.name}.partial")
    partial.mkdir(parents=True)
    report_error = None
    try:
        rows, evals_table = gather_rows(row_files), evals_frame(evals)
        rows.to_parquet(partial / "results.parquet", index=False)
        evals_table.to_parquet(partial / "evals.parquet", index=False)
        _write_json(partial / "run.json", run_json)
        models = list(run_json.get("config", {}).get("models") or ())
        if models:  # a cross-model run: each model's own run directory under models/, then the comparison
            for model in models:
                _write_model_run(partial / "models" / model_dir_name(model), model, rows, evals_table, run_json)
        else:
            _copy_artifacts(artifacts, partial)
        try:
            render_run(partial)
        except Exception as error:  # keep the data: a plotting bug must not lose a run
            report_error = f"rendering the report failed ({type(error).__name__}: {error}); re-render with: steerbench report {run_dir}"
            _write_json(partial / "run.json", {**run_json, "report_error": report_error})
        os.replace(partial, run_dir)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    refresh_latest(run_dir)
    return report_error


def model_dir_name(model: str) -> str:
    """A cross-model run's directory name of ``model`` (an alias as it is; a hub id's or path's slashes as ``__``)."""
    return model.strip("/").replace("/", "__").replace("\\", "__") or "model"


def _copy_artifacts(artifacts, run_dir: Path) -> None:
    if artifacts:
        (run_dir / "directions").mkdir()
        for artifact in artifacts:
            shutil.copyfile(artifact, run_dir / "directions" / Path(artifact).name)


def _write_model_run(model_dir: Path, model: str, rows: pd.DataFrame, evals: pd.DataFrame,
                     run_json: dict[str, Any]) -> None:
    """One model's part of a cross-model run as a run directory of its own (its rows, evals and run.json:
    the model's config, run_info and artifacts), which the single-model report renders unchanged. The
    evals keep the whole run's Holm / BH adjustment (the family is every gated verdict of the run)."""
    model_dir.mkdir(parents=True)
    rows[rows["model"] == model].reset_index(drop=True).to_parquet(model_dir / "results.parquet", index=False)
    evals[evals["model"] == model].reset_index(drop=True).to_parquet(model_dir / "evals.parquet", index=False)
    info = dict(run_json.get("run_info", {}).get("models", {}).get(model, {}))
    config = run_json.get("model_configs", {}).get(model, {**run_json.get("config", {}), "model": model})
    _write_json(model_dir / "run.json", {
        **{k: v for k, v in run_json.items() if k not in ("model_configs", "run_info", "config")},
        "config": config, "run_info": info, "model_fingerprint": info.get("model_fingerprint"),
        "cross_model_run": run_json.get("run_id"),
    })
    _copy_artifacts(info.get("artifacts", []), model_dir)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")


def refresh_latest(run_dir: Path) -> Path:
    """Make ``<results_dir>/latest`` a copy of ``run_dir`` (runs/<id> two levels below results_dir)."""
    results_dir = run_dir.parent.parent
    latest = results_dir / "latest"
    temporary = results_dir / f".latest.{run_dir.name}.tmp"
    retired = results_dir / f".latest.{run_dir.name}.old"
    shutil.rmtree(temporary, ignore_errors=True)
    shutil.copytree(run_dir, temporary)
    if latest.is_symlink() or latest.is_file():
        latest.unlink()
    elif latest.exists():
        os.replace(latest, retired)
    os.replace(temporary, latest)
    shutil.rmtree(retired, ignore_errors=True)
    return latest
