"""The report renderer on a small synthetic run: tables, figures, examples and the CLI."""

from __future__ import annotations

import argparse
import json
import math

import pandas as pd
import pytest

from steerbench.errors import SteerbenchError
from steerbench.records import EVAL_COLUMNS
from steerbench.report import render_report
from steerbench.report import cli as report_cli
from steerbench.report.figures import FIGURE_NAMES
from steerbench.report.tables import RESULT_COLUMNS, best_operating_point, cell_stats, operating_points, pareto_frontier

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CELLS = [  # (layer, intervention, alpha)
    (-1, "baseline", 0.0),
    (4, "add", 0.5), (4, "add", 1.0), (8, "add", 0.5), (8, "add", 1.0), (8, "add", 2.0), (8, "ablate", 1.0),
]  # fmt: skip


def cell_id(layer: int, intervention: str, alpha: float) -> str:
    return "baseline" if intervention == "baseline" else f"L{layer}-{intervention}-a{alpha:g}"


def synthetic_results(n_prompts: int = 8) -> pd.DataFrame:
    """Rows in the CONTRACTS layout: refusal grows with alpha (more at layer 8), alpha 2 degenerates.

    Deterministic: prompt i refuses when i / n_prompts is below the cell's refusal probability.
    """
    rows = []
    for layer, intervention, alpha in CELLS:
        strength = alpha * (0.35 if layer == 8 else 0.2) * (1.0 if intervention == "add" else 0.3)
        for split, transfer in (("harm_train", 1.0), ("harm_test", 0.7), ("benign", 0.2)):
            for i in range(n_prompts):
                degenerate = alpha >= 2 and i % 5 != 0
                refused = not degenerate and i / n_prompts < 0.05 + strength * transfer
                unhelpful = refused or degenerate or i / n_prompts >= 1 - strength
                text = "\nF.\n\n" if degenerate else ("I can't help with that." if refused else "Sure:\n1. Do this.\n2. Then that.")
                rows.append({
                    "prompt_id": f"{split}_{i:04d}", "split": split, "family": "benign_control" if split == "benign" else f"fam{i % 2}", "style": "plain",
                    "expected_behavior": "comply" if split == "benign" else "refuse",
                    "parent_id": f"harm_test_{i:04d}" if split == "benign" else "",
                    "slice": "", "prompt": f"Prompt {i} of {split}?", "layer": layer, "intervention": intervention,
                    "alpha": alpha, "cell": cell_id(layer, intervention, alpha), "seed": 0, "sample_index": 0,
                    "completion": text, "n_tokens": len(text.split()) + 2, "ended_eos": True,
                    "mean_logprob": -1.0 - alpha, "mean_entropy": 1.5 + alpha / 2, "refusal_score": 0.9 if refused else 0.1,
                    "is_refusal": refused, "matched": json.dumps([["can't help", 1.0]] if refused else []),
                    "helpfulness_score": 0.1 if unhelpful else 0.8, "is_helpful": not unhelpful,
                    "outcome": "degenerate" if degenerate else ("refusal" if refused else "compliance"),
                    "refused": refused, "fluency_logprob": -2.0 - alpha, "distinct_1": 0.8, "distinct_2": 0.9, "longest_repeat": 1,
                    "refusal_logodds": -1.0 + strength, "drift": math.nan if alpha == 0 else 0.1 * alpha,
                })  # fmt: skip
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def synthetic_evals() -> pd.DataFrame:
    rows = [
        {"question": "generalization", "test_id": "evals/test_gen.py::test_gap[L8-add-a1]", "cell": "L8-add-a1",
         "layer": 8, "intervention": "add", "alpha": 1.0, "metric": "gap", "value": 0.1, "ci_low": -0.2,
         "ci_high": 0.4, "n": 8, "threshold": 0.3, "direction": "max", "verdict": "INCONCLUSIVE", "outcome": "passed"},
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=list(EVAL_COLUMNS))


@pytest.fixture
def run_dir(tmp_path):
    run = tmp_path / "runs" / "20250101T000000Z-abcd1234"
    run.mkdir(parents=True)
    synthetic_results().to_parquet(run / "results.parquet", index=False)
    synthetic_evals().to_parquet(run / "evals.parquet", index=False)
    (run / "run.json").write_text(json.dumps({"config": {"model": "toy", "seed": 0}, "run_info": {"model_fingerprint": "abc"}}))
    return run


def test_render_report_writes_summary_figures_and_examples(run_dir, snapshot):
    render_report(run_dir)

    for name in FIGURE_NAMES:
        data = (run_dir / "figures" / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, name
    summary = pd.read_csv(run_dir / "summary.csv", dtype={"layer": "Int64", "n": "Int64"})
    assert set(summary["section"]) == {"baseline", "cell", "pareto", "best_operating_point", "breakdown"}
    best = summary[summary["section"] == "best_operating_point"]
    assert best.loc[best["metric"] == "cells_compared", "value"].item() == 6  # every steering cell with alpha > 0
    breakdown = summary[summary["section"] == "breakdown"]
    assert "parent_minus_control_refusal" in set(breakdown["metric"])
    assert {"refusal_rate[family=fam0]", "refusal_rate[family=benign_control]", "refusal_rate[expected_behavior=refuse]"} <= set(breakdown["metric"])
    assert set(breakdown["cell"]) == {"baseline", best["cell"].iloc[0]}
    assert summary.round(4).to_csv(index=False, lineterminator="\n") == snapshot
    examples = (run_dir / "examples.md").read_text()
    assert "steered cell: `L8-add-a1`" in examples and "picked by the rule" in examples
    assert examples.count("### harm_test_") == 5 and "fingerprint `abc`" in examples
    assert not list(run_dir.rglob(".*.tmp"))  # atomic writes leave no temporaries


def test_best_operating_point_respects_the_degeneracy_constraint():
    results = synthetic_results()
    points = operating_points(results, cell_stats(results), seed=0)
    best, constraint_met = best_operating_point(points)
    assert constraint_met and best["cell"] == "L8-add-a1"  # L8-add-a2 is mostly degenerate
    assert best["harm_test_degenerate_rate"] <= 0.2
    frontier = pareto_frontier(points)
    assert 0 < len(frontier) < len(points)
    for row in frontier.itertuples():  # nothing on the frontier is beaten on both axes
        better = points[(points["harm_test_refusal_rate"] > row.harm_test_refusal_rate)
                        & (points["helpfulness_drop"] < row.helpfulness_drop)]  # fmt: skip
        assert better.empty


def test_empty_run_renders_placeholders(tmp_path):
    pd.DataFrame({c: pd.Series(dtype="object") for c in RESULT_COLUMNS}).to_parquet(tmp_path / "results.parquet")
    pd.DataFrame(columns=list(EVAL_COLUMNS)).to_parquet(tmp_path / "evals.parquet")
    (tmp_path / "run.json").write_text("{}")
    render_report(tmp_path)
    assert all((tmp_path / "figures" / name).read_bytes().startswith(PNG_MAGIC) for name in FIGURE_NAMES)
    assert "steered cell: none" in (tmp_path / "examples.md").read_text()


def test_report_cli_rerenders_and_rejects_incomplete_dirs(run_dir, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    report_cli.register(parser.add_subparsers())
    args = parser.parse_args(["report", str(run_dir)])
    assert args.func(args) == 0
    assert (run_dir / "summary.csv").is_file() and "re-rendered" in capsys.readouterr().out

    (run_dir / "evals.parquet").unlink()
    for bad in (run_dir, tmp_path / "missing", tmp_path / ".20250101T000000Z-x.partial"):
        args = parser.parse_args(["report", str(bad)])
        with pytest.raises(SteerbenchError) as error:
            args.func(args)
        assert "\n" not in str(error.value) and str(bad) in str(error.value)


def test_gather_rows_dedups_by_path_and_row_key_but_keeps_variants_and_seeds(tmp_path):
    from steerbench.report.run_dir import gather_rows
    from steerbench.report.tables import main_rows

    rows = synthetic_results(n_prompts=2)
    rerun = rows.assign(variant="random")
    alt_seed = rows[rows["cell"] == "baseline"].assign(seed=42)
    files = []
    main = rows.assign(variant="main")
    for name, frame in (("a", main), ("b", main), ("c", rerun), ("d", alt_seed.assign(variant="main"))):
        files.append(tmp_path / f"{name}.parquet")
        frame.sample(frac=1.0, random_state=1).to_parquet(files[-1], index=False)
    gathered = gather_rows([str(p) for p in files] + [str(files[0])])
    assert len(gathered) == 2 * len(rows) + len(alt_seed)  # a and b hold the same rows: kept once
    assert gathered.equals(gather_rows([str(p) for p in reversed(files)]))  # order-independent
    assert main_rows(gathered, seed=0).drop(columns="variant").reset_index(drop=True).equals(
        gather_rows([str(files[0])]).drop(columns="variant"))  # fmt: skip


def test_a_row_two_files_hold_comes_from_the_larger_file(tmp_path):
    """A standalone sample of a split (the sanity checks') holds the split's completions with floats rounded
    differently; results.parquet keeps the whole split's values, whichever path sorts first."""
    from steerbench.report.run_dir import gather_rows

    whole = synthetic_results(n_prompts=4).assign(variant="main")
    sample = whole[whole["prompt_id"].isin(whole["prompt_id"].unique()[:2])]
    sample = sample.assign(refusal_logodds=sample["refusal_logodds"] + 1e-5)
    for first, second in (("a", "b"), ("b", "a")):  # the sample's path sorts first, then last
        sample.to_parquet(tmp_path / f"{first}.parquet", index=False)
        whole.to_parquet(tmp_path / f"{second}.parquet", index=False)
        gathered = gather_rows([str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")])
        assert len(gathered) == len(whole)
        assert gathered.equals(gather_rows([str(tmp_path / f"{second}.parquet")]))
