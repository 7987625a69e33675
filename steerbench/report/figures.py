"""The run's figures: one PNG per question, CIs drawn as bands or error bars, 150 dpi.

Figures are built on ``matplotlib.figure.Figure`` directly (no pyplot), so rendering touches no
global backend state and works headless. Each function returns the Figure; render.py saves it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from steerbench.report.tables import BASELINE, STEERING_INTERVENTIONS, pareto_frontier
from steerbench.stats import Interval, newcombe_of

FIGURE_NAMES = (
    "generalization_gap_vs_alpha.png",
    "tradeoff_refusal_vs_helpfulness.png",
    "heatmap_harm_test_refusal.png",
    "heatmap_benign_helpfulness.png",
    "rrr_ce_vs_alpha.png",
    "confounds.png",
    "refusal_by_family_and_slice.png",
)
_LINESTYLES = {"add": "o-", "ablate": "s--", "ablate_all": "D:"}  # matplotlib fmt: marker and line tell them apart


def _lines(stats: pd.DataFrame):
    """(label, color, linestyle, frame sorted by alpha) per (layer, intervention) steering line.

    The baseline is prepended at alpha 0 when a line lacks that point (alpha 0 reproduces it).
    """
    steering = stats[stats["cell"] != BASELINE]
    baseline = stats[stats["cell"] == BASELINE]
    keys = sorted(steering.groupby(["layer", "intervention"]).groups)
    colors = _layer_colors(sorted({layer for layer, _ in keys}))
    for layer, intervention in keys:
        line = steering[(steering["layer"] == layer) & (steering["intervention"] == intervention)]
        if not (line["alpha"] == 0).any() and not baseline.empty:
            line = pd.concat([baseline.assign(alpha=0.0), line])
        style = _LINESTYLES.get(intervention, "^:")
        yield f"L{layer} {intervention}", colors[layer], style, line.sort_values("alpha")


def _layer_colors(layers: list[int]) -> dict[int, tuple]:
    from matplotlib import colormaps

    palette = colormaps["tab10"] if len(layers) <= 10 else colormaps["viridis"].resampled(len(layers))
    return {layer: palette(i) for i, layer in enumerate(layers)}


def _empty(fig: Figure, ax, message: str) -> Figure:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return fig


def _by_split(stats: pd.DataFrame, split: str) -> pd.DataFrame:
    return stats[stats["split"] == split]


def generalization_gap(stats: pd.DataFrame, evals: pd.DataFrame) -> Figure:
    """Refusal(harm_train) - refusal(harm_test) per steering line vs alpha, with 95% bands."""
    fig = Figure(figsize=(7, 4.5), dpi=150)
    ax = fig.subplots()
    train = _by_split(stats, "harm_train").set_index("cell")
    test = _by_split(stats, "harm_test").set_index("cell")
    recorded = evals[(evals["question"] == "generalization") & (evals["metric"] == "gap")]
    recorded = recorded.drop_duplicates("cell", keep="last").set_index("cell")
    gap_stats = []
    for cell in train.index.intersection(test.index):
        if cell in recorded.index:  # the eval's own interval wins over the recomputed one
            row = recorded.loc[cell]
            gap = Interval(row["value"], row["ci_low"], row["ci_high"], int(row["n"]))
        else:
            gap = newcombe_of(_interval(train.loc[cell], "refusal"), _interval(test.loc[cell], "refusal"))
        gap_stats.append({**train.loc[cell, ["layer", "intervention", "alpha"]].to_dict(), "cell": cell,
                          "split": "gap", "value": gap.estimate, "low": gap.low, "high": gap.high})  # fmt: skip
    if not gap_stats:
        return _empty(fig, ax, "no cell has both harm_train and harm_test rows")
    for label, color, style, line in _lines(pd.DataFrame(gap_stats)):
        ax.plot(line["alpha"], line["value"], style, color=color, label=label)
        ax.fill_between(line["alpha"], line["low"], line["high"], color=color, alpha=0.15)
    ax.axhline(0.0, color="grey", linewidth=0.8)
    thresholds = recorded["threshold"].dropna().unique() if "threshold" in recorded else []
    for threshold in thresholds[:1]:
        ax.axhline(threshold, color="red", linestyle=":", label=f"gate max {threshold:g}")
    ax.set(title="Generalization gap: refusal(harm_train) − refusal(harm_test)",
           xlabel="alpha", ylabel="refusal-rate gap (95% CI band)")  # fmt: skip
    ax.legend(fontsize=7, ncol=2, handlelength=3)
    return fig


def _interval(row: pd.Series, prefix: str) -> Interval:
    names = {"refusal": ("refusal_rate", "refusal_low", "refusal_high")}[prefix]
    return Interval(row[names[0]], row[names[1]], row[names[2]], int(row["n"]))


def tradeoff(points: pd.DataFrame) -> Figure:
    """harm_test refusal vs benign helpfulness drop per cell; the Pareto frontier highlighted."""
    fig = Figure(figsize=(7, 5), dpi=150)
    ax = fig.subplots()
    shown = points[points["intervention"].isin(STEERING_INTERVENTIONS) | (points["cell"] == BASELINE)]
    shown = shown.dropna(subset=["harm_test_refusal_rate", "helpfulness_drop"])
    if shown.empty:
        return _empty(fig, ax, "no cell has both harm_test and benign rows")
    for intervention, group in shown.groupby("intervention"):
        marker = {"add": "o", "ablate": "s", "ablate_all": "D", BASELINE: "*"}.get(intervention, "^")
        x, y = group["helpfulness_drop"], group["harm_test_refusal_rate"]
        xerr = _errors(x, group["helpfulness_drop_low"], group["helpfulness_drop_high"])
        yerr = _errors(y, group["harm_test_refusal_low"], group["harm_test_refusal_high"])
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt=marker, markersize=9 if marker == "*" else 5,
                    capsize=2, alpha=0.8, label=intervention)  # fmt: skip
    # cells at the same point share one label instead of overprinting each other
    for (xi, yi), group in shown.groupby(["helpfulness_drop", "harm_test_refusal_rate"]):
        ax.annotate(", ".join(sorted(group["cell"])), (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=6)
    frontier = pareto_frontier(points)
    ax.plot(frontier["helpfulness_drop"], frontier["harm_test_refusal_rate"], "-", color="crimson",
            linewidth=2, alpha=0.6, label="Pareto frontier")  # fmt: skip
    ax.set(title="Trade-off: refusal on held-out harmful prompts vs benign helpfulness lost",
           xlabel="benign helpfulness drop (baseline − steered, 95% CI)",
           ylabel="harm_test refusal rate (95% Wilson CI)")  # fmt: skip
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7, handlelength=3)
    return fig


def _errors(center: pd.Series, low: pd.Series, high: pd.Series) -> np.ndarray:
    lower = (center - low).clip(lower=0).fillna(0).to_numpy(dtype=float)
    upper = (high - center).clip(lower=0).fillna(0).to_numpy(dtype=float)
    return np.vstack([lower, upper])


def heatmap(stats: pd.DataFrame, split: str, column: str, title: str, label: str) -> Figure:
    """Layer x alpha grid of ``column`` on ``split``, one panel per steering intervention."""
    data = _by_split(stats, split)
    data = data[data["intervention"].isin(STEERING_INTERVENTIONS)]
    interventions = [i for i in STEERING_INTERVENTIONS if i in set(data["intervention"])]
    fig = Figure(figsize=(4.5 * max(1, len(interventions)) + 1, 4), dpi=150)
    if not interventions:
        return _empty(fig, fig.subplots(), f"no steering cells with {split} rows")
    axes = np.atleast_1d(fig.subplots(1, len(interventions), squeeze=False)[0])
    layers, alphas = sorted(set(data["layer"])), sorted(set(data["alpha"]))
    image = None
    for ax, intervention in zip(axes, interventions):
        grid = np.full((len(layers), len(alphas)), np.nan)
        for row in data[data["intervention"] == intervention].itertuples():
            grid[layers.index(row.layer), alphas.index(row.alpha)] = getattr(row, column)
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="magma", aspect="auto", origin="lower")
        for (i, j), value in np.ndenumerate(grid):
            if math.isnan(value):
                ax.text(j, i, "not run", ha="center", va="center", fontsize=7, color="grey")
            else:
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color="white" if value < 0.5 else "black")
        ax.set_xticks(range(len(alphas)), [f"{a:g}" for a in alphas])
        ax.set_yticks(range(len(layers)), [str(layer) for layer in layers])
        ax.set(title=intervention, xlabel="alpha", ylabel="layer")
    fig.colorbar(image, ax=list(axes), label=label)
    fig.suptitle(title)
    return fig


def rrr_ce(stats: pd.DataFrame) -> Figure:
    """RRR (refusal rate on harm_test), CE = 1 - RRR, and RD (median drift) vs alpha."""
    fig = Figure(figsize=(13, 4), dpi=150)
    axes = fig.subplots(1, 3)
    data = _by_split(stats, "harm_test")
    if data.empty:
        return _empty(fig, axes[0], "no harm_test rows")
    for label, color, style, line in _lines(data):
        alpha = line["alpha"]
        axes[0].plot(alpha, line["refusal_rate"], style, color=color, label=label)
        axes[0].fill_between(alpha, line["refusal_low"], line["refusal_high"], color=color, alpha=0.15)
        axes[1].plot(alpha, 1 - line["refusal_rate"], style, color=color, label=label)
        axes[1].fill_between(alpha, 1 - line["refusal_high"], 1 - line["refusal_low"], color=color, alpha=0.15)
        axes[2].plot(alpha, line["drift_median"], style, color=color, label=label)
        axes[2].fill_between(alpha, line["drift_q25"], line["drift_q75"], color=color, alpha=0.15)
    rate_axis = {"xlabel": "alpha", "ylabel": "rate (95% Wilson CI)", "ylim": (-0.02, 1.02)}
    axes[0].set(title="RRR: refusal rate on harm_test", **rate_axis)
    axes[1].set(title="CE = 1 − RRR (compliance)", **rate_axis)
    axes[2].set(title="RD: median drift from baseline", xlabel="alpha", ylabel="1 − cosine (band: IQR)")
    axes[0].legend(fontsize=7, handlelength=3)
    return fig


def confounds(stats: pd.DataFrame, results: pd.DataFrame) -> Figure:
    """Per alpha, pooled over splits: mean length, mean entropy, degenerate rate, fluency."""
    from steerbench.report.tables import cell_stats

    pooled = cell_stats(results.assign(split="all"))
    fig = Figure(figsize=(10, 7), dpi=150)
    axes = fig.subplots(2, 2).ravel()
    panels = [
        ("mean_length", "length_low", "length_high", "mean completion length", "tokens (95% CI)"),
        ("mean_entropy", "entropy_low", "entropy_high", "mean token entropy", "nats (95% CI)"),
        ("degenerate_rate", "degenerate_low", "degenerate_high", "degenerate-outcome rate", "rate (95% Wilson CI)"),
        ("fluency", "fluency_low", "fluency_high", "fluency (mean log-prob)", "log-prob (95% CI)"),
    ]  # fmt: skip
    baseline = pooled[pooled["cell"] == BASELINE]
    for ax, (column, low, high, title, ylabel) in zip(axes, panels):
        for label, color, style, line in _lines(pooled):
            ax.plot(line["alpha"], line[column], style, color=color, label=label)
            ax.fill_between(line["alpha"], line[low], line[high], color=color, alpha=0.15)
        if not baseline.empty:
            ax.axhline(baseline[column].iloc[0], color="grey", linestyle=":", label="baseline")
        ax.set(title=title, xlabel="alpha", ylabel=ylabel)
    axes[0].legend(fontsize=7, handlelength=3)
    fig.suptitle("Confounds of steering (all splits pooled)")
    fig.tight_layout()
    return fig


def breakdown(table: pd.DataFrame) -> Figure:
    """Refusal rate (Wilson 95% CI) per family and per slice of each split, baseline vs best cell.

    ``table`` is ``tables.breakdowns`` for the baseline and the best operating point.
    """
    rows = table[table["dimension"].isin(["family", "slice"])].copy()
    fig = Figure(figsize=(8, 0.32 * max(8, rows.groupby(["split", "dimension", "value"]).ngroups) + 1.4), dpi=150)
    ax = fig.subplots()
    if rows.empty:
        return _empty(fig, ax, "no per-completion rows to break down")
    labels = sorted({(r.split, r.dimension, r.value) for r in rows.itertuples()})
    position = {key: i for i, key in enumerate(labels)}
    cells = sorted(rows["cell"].unique(), key=lambda c: (c != BASELINE, c))
    offsets = np.linspace(-0.18, 0.18, len(cells)) if len(cells) > 1 else [0.0]
    for offset, cell, color in zip(offsets, cells, ("0.45", "tab:red", "tab:blue")):
        part = rows[rows["cell"] == cell]
        y = np.array([position[(r.split, r.dimension, r.value)] + offset for r in part.itertuples()])
        ax.errorbar(part["refusal_rate"], y, xerr=_errors(part["refusal_rate"], part["refusal_low"], part["refusal_high"]),
                    fmt="o", color=color, capsize=2, markersize=4, label=cell if cell == BASELINE else f"best cell {cell}")
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels([f"{split} · {value} (n {int(rows[(rows.split == split) & (rows.value == value)].n.max())})"
                        for split, _, value in labels], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(-0.02, 1.02)
    ax.set(xlabel="refusal rate (outcome == refusal), Wilson 95% CI",
           title="Refusal by prompt family and slice: baseline vs the best operating point")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    return fig
