"""The cross-model figures of a multi-model run (``scaling.py`` owns the table they draw):
``scaling_rrr.png`` (refusal vs parameter count) and ``scaling_collapse.png`` (steps-to-collapse)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from steerbench.report.figures import _empty, _errors
from steerbench.report.scaling import _params_text

def _attack_colors(attacks: list[str]) -> dict[str, tuple]:
    from matplotlib import colormaps

    return {attack: colormaps["tab10"](i + 1) for i, attack in enumerate(attacks)}  # tab10's 0 is close to black


def _spread(n_params: pd.Series) -> np.ndarray:
    """x of each model: its parameter count, moved right of the next smaller model by at least 1.4x, so
    models of (nearly) one size (an organism and its base) stand side by side instead of on top of each other."""
    x = n_params.to_numpy(float).copy()
    order = np.argsort(x, kind="stable")
    for smaller, current in zip(order, order[1:]):
        x[current] = max(x[current], x[smaller] * 1.4)
    return x


def _model_labels(table: pd.DataFrame, separator: str = "\n") -> list[str]:
    return [f"{row.model}{separator}{_params_text(row.n_params)}" for row in table.itertuples()]


def _steps_label(table: pd.DataFrame, attack: str) -> str:
    steps = set(table[f"post_attack_steps_{attack}"].dropna())
    return f"{int(steps.pop())} steps" if len(steps) == 1 else "its largest step"


def rrr_figure(table: pd.DataFrame, attacks: list[str]) -> Figure:
    """Refusal rate on harm_test refuse prompts (Wilson 95%) vs parameter count: untampered, and after each
    attack's largest step. Models without ``n_params`` are left out (named under the axes)."""
    figure = Figure(figsize=(7.5, 5.0), dpi=150)
    axes = figure.subplots()
    drawn = table[table["n_params"].notna()].reset_index(drop=True)
    if drawn.empty:
        return _empty(figure, axes, "no model's run.json gives n_params: nothing to place on the x axis")
    x = _spread(drawn["n_params"])
    colors = _attack_colors(attacks)
    series = [("baseline_rrr", "untampered (steering study)", "o", "black")] + [
        (f"post_attack_rrr_{a}", f"after {a}, {_steps_label(drawn, a)}", "s", colors[a]) for a in attacks]
    offsets = 10 ** np.linspace(-0.025, 0.025, len(series)) if len(series) > 1 else np.ones(1)
    for (prefix, label, marker, color), offset in zip(series, offsets):
        rate = drawn[prefix].astype(float)
        keep = rate.notna().to_numpy()
        if keep.any():
            axes.errorbar(x[keep] * offset, rate[keep], fmt=marker, color=color, capsize=3, markersize=5, label=label,
                          yerr=_errors(rate[keep], drawn[f"{prefix}_low"][keep].astype(float),
                                       drawn[f"{prefix}_high"][keep].astype(float)))
    axes.set_xscale("log")
    # slanted: models of one size stand only 1.4x apart, too close for level names
    axes.set_xticks(x, _model_labels(drawn, ", "), fontsize=7, rotation=30, ha="right", rotation_mode="anchor")
    axes.minorticks_off()
    axes.set_xlim(x.min() / 1.6, x.max() * 1.6)
    axes.set_ylim(-0.02, 1.02)
    axes.set(xlabel="parameters (log scale)", ylabel="refusal rate, harm_test refuse prompts (Wilson 95% CI)",
             title="Refusal vs model size: untampered and after each attack")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="best")
    left_out = table.loc[table["n_params"].isna(), "model"].tolist()
    if left_out:
        figure.text(0.01, -0.03, f"not drawn (run.json gives no n_params): {', '.join(left_out)}", fontsize=7)
    return figure


def collapse_figure(table: pd.DataFrame, attacks: list[str]) -> Figure:
    """Steps-to-collapse (bootstrap 95%) per model and attack on a log2 axis; a collapse that never happened
    is a triangle above the grid's largest step, a NaN one (no untampered refusal) is named under the axes."""
    figure = Figure(figsize=(7.5, 5.0), dpi=150)
    axes = figure.subplots()
    if not attacks:
        return _empty(figure, axes, "no model of this run has tampering records")
    # the grid's largest step (a collapse record's own finite ends bound it when no attacked records say it)
    known = [table[f"post_attack_steps_{a}"].astype(float) for a in attacks]
    known += [table[f"collapse_{a}{s}"].astype(float) for a in attacks for s in ("", "_high")]
    finite = [v for column in known for v in column if np.isfinite(v)]
    grid_max = int(max(finite, default=64))
    top = 2 * grid_max  # where "never collapsed within the grid" is drawn
    colors = _attack_colors(attacks)
    offsets = np.linspace(-0.22, 0.22, len(attacks)) if len(attacks) > 1 else np.zeros(1)
    positions = np.arange(len(table), dtype=float)
    not_available = []
    for attack, offset in zip(attacks, offsets):
        value, low, high = (table[f"collapse_{attack}{s}"].astype(float) for s in ("", "_low", "_high"))
        plotted = value.where(np.isfinite(value), top)
        bars = _errors(plotted, low.where(np.isfinite(low), top), high.clip(upper=top))
        axes.plot([], [], "o", color=colors[attack], label=attack)  # one legend entry, in attack order
        for kept, marker in ((np.isfinite(value), "o"), (np.isinf(value), "^")):
            kept = kept.to_numpy()
            if kept.any():
                axes.errorbar(positions[kept] + offset, plotted[kept], yerr=bars[:, kept], fmt=marker, color=colors[attack],
                              capsize=3, markersize=7 if marker == "^" else 5)
        missing = value.isna() & table[f"collapse_{attack}_n"].notna()
        not_available += [f"{model} / {attack}" for model in table.loc[missing, "model"]]
    axes.axhline(grid_max, color="grey", linestyle=":", linewidth=1, label=f"largest grid step ({grid_max})")
    axes.plot([], [], "^", color="grey", label=f"never collapsed within the grid (drawn at {top})")
    axes.set_yscale("log", base=2)
    ticks = [2 ** k for k in range(int(math.log2(grid_max)) + 1)] + [top]
    axes.set_yticks(ticks, [str(t) for t in ticks[:-1]] + ["never"])
    axes.minorticks_off()
    axes.set_ylim(0.7, top * 1.5)
    axes.set_xticks(positions, _model_labels(table), fontsize=7)
    axes.set_xlim(-0.6, len(table) - 0.4)
    axes.set(xlabel="model", ylabel="attacker steps until refusal < 1/2 untampered\n(log2 scale, bootstrap 95% CI)",
             title="Steps to collapse per model and attack")
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    not_attacked = [row.model for _, row in table.iterrows() if all(pd.isna(row[f"collapse_{a}_n"]) for a in attacks)]
    notes = [f"not drawn, no untampered refusal (NaN): {', '.join(not_available)}" if not_available else "",
             f"no tampering records (not attacked, or skipped: refusing < 1/2 untampered): {', '.join(not_attacked)}" if not_attacked else ""]
    if any(notes):
        figure.text(0.01, -0.03, "; ".join(note for note in notes if note), fontsize=7)
    return figure
