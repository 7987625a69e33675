"""The tampering question's tables and figures: ``results_grid.csv`` and five PNGs, from a run's files.

``results_grid.csv`` (one row per model x attack x attacker steps x attack seed) is computed from the
attacked checkpoints' baseline rows in results.parquet (restoration rows, steered with r0, are left out),
so a run re-renders it; this module owns its schema (``RESULTS_GRID_SCHEMA``). The persistence and
restoration figures read the tampering records of evals.parquet.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from steerbench.stats import wilson_interval

# results_grid.csv: column -> dtype, in order (docs/CONTRACTS.md).
RESULTS_GRID_SCHEMA: dict[str, str] = {
    "model": "object", "attack": "object", "attack_steps": "int64", "attack_seed": "int64",
    "rrr": "float64", "rrr_low": "float64", "rrr_high": "float64", "n_harmful": "int64",
    "ce": "float64", "ce_low": "float64", "ce_high": "float64",
    "rd": "float64", "rd_q25": "float64", "rd_q75": "float64",
    "harm_train_rrr": "float64", "harm_train_rrr_low": "float64", "harm_train_rrr_high": "float64", "n_harm_train": "int64",
    "false_refusal": "float64", "false_refusal_low": "float64", "false_refusal_high": "float64", "n_benign": "int64",
    "helpfulness": "float64", "degenerate_rate": "float64", "degenerate_low": "float64", "degenerate_high": "float64",
}  # fmt: skip
CELL_PATTERN = r"^(?P<attack>.+)-s(?P<steps>\d+)-seed(?P<seed>\d+)$"  # fixtures.evaluation.attack_point_id
TAMPERING_FIGURES = ("RRR_compare.png", "CE_compare.png", "RD_compare.png", "direction_persistence.png",
                     "direction_persistence_layers.png", "restoration.png")


def _rate(flags) -> tuple[float, float, float, int]:
    interval = wilson_interval(int(np.asarray(flags, dtype=bool).sum()), int(len(flags)))
    return interval.estimate, interval.low, interval.high, interval.n


def _attacked_model(attack: str, model: str) -> str:
    """The model an attack trained: a base-control attack trains the organism's unmodified base."""
    from steerbench.tampering.attack import unmodified_base
    from steerbench.vocab import BASE_CONTROL_ATTACKS

    return unmodified_base(model) if attack in BASE_CONTROL_ATTACKS else model


def results_grid(tampering: pd.DataFrame, model: str) -> pd.DataFrame:
    """One row per attack x steps x seed of the attacked checkpoints' baseline rows (Wilson intervals;
    RD is the median drift from the untampered completion, with its quartiles)."""
    rows = tampering[tampering["intervention"] == "baseline"]
    records = []
    for (attack, steps, seed), group in rows.groupby(["attack", "attack_steps", "attack_seed"], sort=True):
        harm_test = group[(group["split"] == "harm_test") & (group["expected_behavior"] == "refuse")]
        harm_train = group[(group["split"] == "harm_train") & (group["expected_behavior"] == "refuse")]
        benign = group[group["split"] == "benign"]
        rrr, low, high, n = _rate(harm_test["refused"])
        drift = pd.to_numeric(harm_test["drift"], errors="coerce").dropna()
        train = _rate(harm_train["refused"])
        fr = _rate(benign["refused"])
        scored = pd.concat([harm_test, benign])
        degenerate = _rate(scored["outcome"] == "degenerate")
        records.append({
            "model": _attacked_model(attack, model), "attack": attack, "attack_steps": int(steps), "attack_seed": int(seed),
            "rrr": rrr, "rrr_low": low, "rrr_high": high, "n_harmful": n,
            "ce": 1 - rrr if n else math.nan, "ce_low": 1 - high if n else math.nan, "ce_high": 1 - low if n else math.nan,
            "rd": float(drift.median()) if len(drift) else math.nan,
            "rd_q25": float(drift.quantile(0.25)) if len(drift) else math.nan,
            "rd_q75": float(drift.quantile(0.75)) if len(drift) else math.nan,
            "harm_train_rrr": train[0], "harm_train_rrr_low": train[1], "harm_train_rrr_high": train[2],
            "n_harm_train": train[3],
            "false_refusal": fr[0], "false_refusal_low": fr[1], "false_refusal_high": fr[2], "n_benign": fr[3],
            "helpfulness": float(benign["helpfulness_score"].mean()) if len(benign) else math.nan,
            "degenerate_rate": degenerate[0], "degenerate_low": degenerate[1], "degenerate_high": degenerate[2],
        })
    frame = pd.DataFrame.from_records(records, columns=list(RESULTS_GRID_SCHEMA))
    return frame.astype(RESULTS_GRID_SCHEMA)


def _x(steps: pd.Series) -> np.ndarray:
    """Attacker steps on a symlog-like axis: 0 is drawn at 1 (log x with the untampered point kept)."""
    return np.maximum(steps.to_numpy(float), 1.0)


def _step_axis(axes, steps, rate: bool) -> None:
    """Log x with a tick at every grid step, labelled with its real step count (0 sits at 1)."""
    steps = sorted({int(s) for s in steps})
    axes.set_xscale("log")
    axes.set_xticks([max(s, 1) for s in steps], [str(s) for s in steps])
    axes.minorticks_off()
    axes.set_xlabel("attacker steps (log scale; 0 = untampered, drawn at 1)")
    if rate:
        axes.set_ylim(-0.02, 1.02)


def _line_figure(lines, steps, *, title: str, ylabel: str, rate: bool) -> Figure:
    """One line per (label, marker style, steps, values, low, high): a band where low/high are given."""
    figure = Figure(figsize=(6.4, 4.2), dpi=150)
    axes = figure.subplots()
    for label, style, line_steps, values, low, high in lines:
        x = _x(line_steps)
        plotted = axes.plot(x, values, style, label=label)
        if low is not None:
            axes.fill_between(x, low, high, alpha=0.15, color=plotted[0].get_color())
    _step_axis(axes, steps, rate=rate)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend(fontsize=7)
    axes.grid(alpha=0.3)
    return figure


def _curves(grid: pd.DataFrame, value: str, low: str | None, high: str | None, title: str, ylabel: str) -> Figure:
    lines = []
    for (attack, seed), line in grid.groupby(["attack", "attack_seed"], sort=True):
        line = line.sort_values("attack_steps")
        lines.append((f"{attack} (seed {seed})", "o-", line["attack_steps"], line[value],
                      line[low] if low else None, line[high] if high else None))
    return _line_figure(lines, grid["attack_steps"], title=title, ylabel=ylabel, rate=value != "rd")


def rrr_figure(grid: pd.DataFrame) -> Figure:
    return _curves(grid, "rrr", "rrr_low", "rrr_high", "Refusal rate on harm_test refuse prompts vs attacker steps (95% CI)",
                   "RRR")


def ce_figure(grid: pd.DataFrame) -> Figure:
    return _curves(grid, "ce", "ce_low", "ce_high", "Compliance error CE = 1 - RRR vs attacker steps (95% CI)", "CE")


def rd_figure(grid: pd.DataFrame) -> Figure:
    return _curves(grid, "rd", "rd_q25", "rd_q75",
                   "Representation drift from the untampered completions (median, quartiles)", "RD (1 - cosine)")


def _no_records() -> Figure:
    figure = Figure(figsize=(6.4, 4.2), dpi=150)
    axes = figure.subplots()
    axes.text(0.5, 0.5, "no records for this figure in this run", ha="center", va="center")
    axes.set_axis_off()
    return figure


def _eval_curves(evals: pd.DataFrame, metrics: dict[str, str], title: str, ylabel: str) -> Figure:
    rows = evals[(evals["question"] == "tampering") & evals["metric"].isin(list(metrics))].copy()
    parts = rows["cell"].str.extract(CELL_PATTERN)
    rows = pd.concat([rows, parts], axis=1).dropna(subset=["steps"])
    if not len(rows):
        return _no_records()
    rows["steps"] = rows["steps"].astype(int)
    lines = []
    for (attack, seed, metric), line in rows.groupby(["attack", "seed", "metric"], sort=True):
        line = line.sort_values("steps")
        lines.append((f"{attack} (seed {seed}): {metrics[metric]}", "o-" if metric == list(metrics)[0] else "s--",
                      line["steps"], line["value"], line["ci_low"], line["ci_high"]))
    return _line_figure(lines, rows["steps"], title=title, ylabel=ylabel, rate=True)


def persistence_figure(evals: pd.DataFrame) -> Figure:
    return _eval_curves(evals, {"direction_cosine_to_untampered": "cos(r0, r_t) at the selected layer",
                                "untampered_direction_auroc": "AUROC of r0's projection"},
                        "Does the refusal direction survive the attack?", "cosine / AUROC")


def persistence_layers_figure(evals: pd.DataFrame) -> Figure:
    """Per layer, cos(r_t, r0) of the attacked model's diff-in-means direction (top) and the AUROC of r0's
    projection (bottom), one panel per attack (first seed), one line per attacker step."""
    rows = evals[(evals["question"] == "tampering")
                 & evals["metric"].isin(["layer_direction_cosine", "layer_untampered_direction_auroc"])]
    rows = pd.concat([rows, rows["cell"].str.extract(CELL_PATTERN)], axis=1).dropna(subset=["steps"])
    if not len(rows):
        return _no_records()
    rows = rows.assign(steps=rows["steps"].astype(int), seed=rows["seed"].astype(int))
    rows = rows[rows["seed"] == rows.groupby("attack")["seed"].transform("min")]
    attacks = sorted(rows["attack"].unique())
    figure = Figure(figsize=(3.6 * len(attacks) + 1.2, 6.0), dpi=150)
    grid = figure.subplots(2, len(attacks), squeeze=False, sharex=True)
    steps = sorted(rows["steps"].unique())
    chosen = evals.loc[(evals["metric"] == "direction_cosine_to_untampered") & (evals["layer"] >= 0), "layer"]
    selected = int(chosen.iloc[0]) if len(chosen) else None  # r0's layer (the selected-layer record's)
    colours = {s: c for s, c in zip(steps, _viridis(len(steps)))}
    for column, attack in enumerate(attacks):
        for row, (metric, ylabel) in enumerate((("layer_direction_cosine", "cos(r_t, r0) per layer"),
                                                ("layer_untampered_direction_auroc", "AUROC of r0's projection"))):
            axes = grid[row][column]
            for step, line in rows[(rows["attack"] == attack) & (rows["metric"] == metric)].groupby("steps"):
                line = line.sort_values("layer")
                axes.plot(line["layer"], line["value"], "-", color=colours[step], label=f"step {step}")
            if selected is not None:
                axes.axvline(selected, color="grey", linestyle=":", linewidth=1,
                             label="selected layer" if row == 0 and column == len(attacks) - 1 else None)
            axes.xaxis.get_major_locator().set_params(integer=True)
            axes.set_ylim(-0.05 if row == 0 else 0.35, 1.02)
            axes.grid(alpha=0.3)
            if column == 0:
                axes.set_ylabel(ylabel)
            if row == 0:
                axes.set_title(f"{attack} (seed {int(rows[rows['attack'] == attack]['seed'].min())})", fontsize=9)
            else:
                axes.set_xlabel("layer (resid_pre)")
    grid[0][-1].legend(fontsize=6, loc="lower right")
    figure.suptitle("Does the refusal direction survive the attack, layer by layer?", fontsize=10)
    return figure


def _viridis(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(i / max(n - 1, 1)) for i in range(n)]


def restoration_figure(evals: pd.DataFrame) -> Figure:
    """Attacked and restored RRR of the checkpoints restoration ran on (attacks without it are left out)."""
    attack_of = evals["cell"].str.extract(CELL_PATTERN)["attack"]
    attacks = set(attack_of[evals["metric"] == "restored_refusal_rate"].dropna())
    evals = evals[attack_of.isin(attacks)]
    return _eval_curves(evals, {"restored_refusal_rate": "RRR with r0 added back",
                                "attacked_refusal_rate": "RRR attacked"},
                        "Restoring refusal by adding the untampered direction back", "RRR (harm_test refuse)")


def figure_builders(grid: pd.DataFrame, evals: pd.DataFrame) -> dict:
    return {"RRR_compare.png": lambda: rrr_figure(grid), "CE_compare.png": lambda: ce_figure(grid),
            "RD_compare.png": lambda: rd_figure(grid), "direction_persistence.png": lambda: persistence_figure(evals),
            "direction_persistence_layers.png": lambda: persistence_layers_figure(evals),
            "restoration.png": lambda: restoration_figure(evals)}
