"""Figures about directions: the selection heatmaps and the direction diagnostics.

Like figures.py, built on ``matplotlib.figure.Figure`` (no pyplot); each ``*_figure`` returns the
Figure, ``save_*`` writes it atomically where it belongs.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

SELECTION_FIGURE = "direction_selection.png"
_PANELS = (
    ("bypass_score", "bypass: harmful refusal log-odds\nunder ablation at every layer (lower = better)", "RdBu_r"),
    ("induce_score", "induce: harmless refusal log-odds\nwith the vector added (must be > 0)", "RdBu_r"),
    ("kl", "KL on harmless under ablation\n(must be < 0.1)", "viridis"),
)


def _save(figure: Figure, path: Path) -> Path:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    figure.savefig(temporary, format="png", dpi=150, bbox_inches="tight")
    os.replace(temporary, path)
    return path


def selection_figure(candidates: pd.DataFrame, record: dict) -> Figure:
    """Layer x position heatmaps of the three selection scores; the chosen candidate is starred,
    discarded ones are crossed, the pruned late layers sit right of the dashed line."""
    positions = sorted(set(candidates["position"]))
    n_layers = int(record["n_layers"])
    tokens = {int(k): v for k, v in record["positions"].items()}
    fig = Figure(figsize=(16, 2.5 + 0.75 * len(positions) * 3), dpi=150, layout="constrained")
    axes = fig.subplots(3, 1, squeeze=False)[:, 0]
    cutoff = int(n_layers * (1.0 - record["config"]["prune_layer_fraction"]))
    for ax, (column, title, name) in zip(axes, _PANELS):
        cmap = matplotlib.colormaps[name].with_extremes(bad="0.85")  # grey: not scored
        grid = np.full((len(positions), n_layers), np.nan)
        for row in candidates.itertuples():
            grid[positions.index(row.position), row.layer] = getattr(row, column)
        if column == "kl":
            shown = np.log10(np.clip(grid, 1e-4, None))
            image = ax.imshow(shown, cmap=cmap, aspect="auto", origin="lower", vmin=-4, vmax=max(0.5, np.nanmax(shown)))
            fig.colorbar(image, ax=ax, label="log10 KL (nats)", pad=0.01)
        else:
            reference = record["baseline_harmful_score" if column == "bypass_score" else "baseline_harmless_score"]
            span = float(np.nanmax(np.abs(grid))) or 1.0
            image = ax.imshow(grid, cmap=cmap, aspect="auto", origin="lower", vmin=-span, vmax=span)
            fig.colorbar(image, ax=ax, label=f"log-odds (baseline {reference:+.2f})", pad=0.01)
        for row in candidates.itertuples():
            y = positions.index(row.position)
            failed = [reason for reason in str(row.discarded).split(",") if reason and reason != "screened"]
            if row.selected:
                ax.plot(row.layer, y, marker="*", color="gold", markersize=14, markeredgecolor="black")
            elif failed:
                ax.plot(row.layer, y, marker="x", color="black", markersize=4, alpha=0.55)
            elif getattr(row, "stage", "final") == "final":
                ax.plot(row.layer, y, marker="o", color="black", markersize=4, fillstyle="none")
        ax.axvline(cutoff - 0.5, color="black", linestyle="--", linewidth=0.8)
        ax.set_yticks(range(len(positions)), [f"{p} {tokens.get(p, '')!r}" for p in positions])
        ax.set_xticks(range(n_layers))
        ax.set(title=title, xlabel="layer the direction is read at (resid_pre)", ylabel="position")
    chosen = record.get("selected")
    summary = "no candidate passed the filters" if chosen is None else (
        f"selected: layer {chosen['layer']}, position {chosen['position']} ({chosen['token']!r}), "
        f"bypass {chosen['bypass_score']:+.2f}, induce {chosen['induce_score']:+.2f}, KL {chosen['kl']:.3f}")
    fig.suptitle(f"diff-in-means candidates of {record['model']}: {summary}\n"
                 "x = fails a filter (KL, induce, late layer, no contrast); o = finalist scored on the whole "
                 "validation split; unmarked = screening scores only; grey = not scored (induce is screened only "
                 "where layer and KL leave a chance)")
    return fig


def save_selection_figure(selection) -> Path:
    """Write the selection heatmaps next to the candidate scores (cached with them)."""
    path = selection.root / SELECTION_FIGURE
    if not path.exists():
        _save(selection_figure(selection.candidates(), selection.record), path)
    return path


def projection_figure(harmful: np.ndarray, harmless: np.ndarray, auroc: np.ndarray, selected_layer: int,
                      labels: tuple[str, str] = ("harm_test refuse", "benign")) -> Figure:
    """Per layer: the two groups' projections on the direction (box plots) and the AUROC of their separation."""
    n_layers = harmful.shape[1]
    fig = Figure(figsize=(15, 5), dpi=150)
    ax = fig.subplots()
    x = np.arange(n_layers)
    for offset, data, color, label in ((-0.2, harmful, "tab:red", labels[0]), (0.2, harmless, "tab:blue", labels[1])):
        parts = ax.boxplot([data[:, j] for j in x], positions=x + offset, widths=0.35, patch_artist=True,
                           showfliers=False, manage_ticks=False)
        for box in parts["boxes"]:
            box.set(facecolor=color, alpha=0.45)
        ax.plot([], [], color=color, linewidth=6, alpha=0.45, label=f"{label} (n={data.shape[0]})")
    ax.axhline(0, color="grey", linewidth=0.6)
    ax.axvline(selected_layer, color="gold", linewidth=2, alpha=0.6, label=f"selected layer {selected_layer}")
    ax.set(xlabel="layer (resid_pre, at the direction's position)", ylabel="projection on the unit direction",
           title="Projection of the residual on the selected direction: harmful vs harmless prompts")
    ax.set_xticks(x)
    twin = ax.twinx()
    twin.plot(x, auroc, "k.-", label="AUROC (right axis)")
    twin.set_ylim(0, 1.02)
    twin.set_ylabel("AUROC harmful > harmless")
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.07, 0.88), fontsize=8)
    return fig


def logit_lens_figure(top: list[tuple[str, float]], bottom: list[tuple[str, float]], title: str) -> Figure:
    """The tokens the direction promotes (left) and suppresses (right) through the unembedding."""
    fig = Figure(figsize=(11, 5), dpi=150)
    axes = fig.subplots(1, 2)
    for ax, tokens, color, what in ((axes[0], top, "tab:red", "promoted (top)"), (axes[1], bottom, "tab:blue", "suppressed (bottom)")):
        names = [repr(t) for t, _ in tokens][::-1]
        ax.barh(range(len(tokens)), [v for _, v in tokens][::-1], color=color, alpha=0.7)
        ax.set_yticks(range(len(tokens)), names, fontsize=8)
        ax.set(title=what, xlabel="W_U (g * v)")
    fig.suptitle(title)
    return fig


def cosine_figure(layer_cosines: np.ndarray, method_cosines: dict[str, float], selected_layer: int, title: str) -> Figure:
    """Left: cosine between the diff-in-means directions of all layers; right: methods at the selected layer."""
    fig = Figure(figsize=(15, 5.5), dpi=150, layout="constrained")
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.2, 1]})
    image = left.imshow(layer_cosines, vmin=-1, vmax=1, cmap="RdBu_r", origin="lower")
    fig.colorbar(image, ax=left, label="cosine")
    left.axhline(selected_layer, color="gold", linewidth=0.8)
    left.axvline(selected_layer, color="gold", linewidth=0.8)
    left.set(title="diff-in-means directions, layer x layer (selected position)", xlabel="layer", ylabel="layer")
    names = list(method_cosines)
    values = [method_cosines[n] for n in names]
    right.barh(range(len(names)), values, color=["tab:green" if v >= 0 else "tab:purple" for v in values])
    for i, v in enumerate(values):
        right.text(v, i, f" {v:.2f}", va="center", fontsize=8)
    right.set_yticks(range(len(names)), names, fontsize=8)
    right.set_xlim(-1, 1)
    right.axvline(0, color="grey", linewidth=0.6)
    right.set(title=f"cosine with the selected direction at layer {selected_layer}", xlabel="cosine")
    fig.suptitle(title)
    return fig


def save_figure(figure: Figure, path: Path) -> Path:
    """Write ``figure`` to ``path`` atomically (the directory is created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return _save(figure, path)
