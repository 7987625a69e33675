"""What is the selected direction? Separation of harmful from harmless prompts per layer, the tokens it
writes (logit lens), and how it relates to other layers' directions and to other methods' directions.

One figure each, in the run's ``directions/`` with the selection heatmaps and scores.
"""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from steerbench.cache import atomic_write, seal
from steerbench.diagnostics import logit_lens, projections
from steerbench.directions import build_directions
from steerbench.errors import ConfigError
from steerbench.interventions import Cell
from steerbench.report.direction_figures import (
    cosine_figure,
    logit_lens_figure,
    projection_figure,
    save_figure,
    save_selection_figure,
)
from steerbench.stats import Interval

REFUSAL_TOKENS = ("I", "Sorry", "sorry", "cannot", "can't", "Unfortunately", "apologize", "As")


def _exact(value: float, n: int) -> Interval:
    return Interval(value, value, value, n)


def _outcome_conditioned(study, build, layer: int, hook_point: str) -> dict:
    """The outcome-conditioned direction (refused vs complied baseline completions of the build half), if
    the model both refuses and answers some of them."""
    try:
        inputs = study._outcome_inputs(build)
        return {"outcome_conditioned (completions)": build_directions(
            study.model, build.texts(), [layer], method="outcome_conditioned",
            hook_point=hook_point, **inputs)[layer]}
    except ConfigError:  # all refused or all complied: no contrast
        return {}


@pytest.fixture
def selection(study):
    if study.config.direction.layer != "auto":
        pytest.skip("diagnostics describe the Arditi-selected direction (direction.layer auto)")
    return study.selection()


def test_direction_diagnostics(study, selection, verdicts, record_artifact, record_run_info):
    """H: the selected direction separates held-out harmful from harmless prompts at its layer (AUROC > 0.5)."""
    model, direction, layer = study.model, selection.direction, selection.layer
    out = study.cache_root / "diagnostics" / f"{selection.root.name}-{study.splits['harm_test'].content_hash()[:12]}"
    harmful = [p.prompt for p in study.splits["harm_test"] if p.meta.expected_behavior == "refuse"]
    harmless = study.splits["benign"].texts()
    seen = projections(model, direction.unit, harmful, harmless, selection.position)
    top, bottom = logit_lens(model, direction.unit)

    units = load_file(str(selection.root / "candidates.safetensors"))["units"]
    by_layer = units[len(selection.record["positions"]) + selection.position]  # [L, d] at the selected position
    layer_cosines = (by_layer @ by_layer.T).numpy()
    build = study.direction_prompts("harm_train")
    others = {
        "contrastive_prefix (prefix_mean)": build_directions(model, build.texts(), [layer], method="contrastive_prefix",
                                                             hook_point=direction.hook_point)[layer],
        "diff_in_means (last token)": build_directions(model, build.texts(), [layer], method="diff_in_means",
                                                       hook_point=direction.hook_point,
                                                       benign_prompts=study.direction_prompts("benign").texts())[layer],
        **_outcome_conditioned(study, build, layer, direction.hook_point),
        "unrelated contrast (control)": study.direction(layer, "unrelated"),
        "random (control)": study.direction(layer, "random"),
    }
    method_cosines = {name: direction.cosine(other) for name, other in others.items()}

    title = f"{model.name}: diff-in-means direction, layer {layer}, position {selection.position} ({selection.token!r})"
    figures = {
        "direction_projection.png": projection_figure(seen.harmful, seen.harmless, seen.auroc, layer),
        "direction_logit_lens.png": logit_lens_figure(top, bottom, f"Logit lens of the {title}"),
        "direction_cosines.png": cosine_figure(layer_cosines, method_cosines, layer, title),
    }
    for name, figure in figures.items():
        record_artifact(save_figure(figure, out / name))
    summary = {"layer": layer, "position": selection.position, "token": selection.token,
               "auroc_per_layer": [round(float(a), 4) for a in seen.auroc],
               "mean_projection_harmful": float(seen.harmful[:, layer].mean()),
               "mean_projection_harmless": float(seen.harmless[:, layer].mean()),
               "logit_lens_top": top, "logit_lens_bottom": bottom, "method_cosines": method_cosines}
    atomic_write(out / "direction_diagnostics.json", lambda tmp: tmp.write_text(json.dumps(summary, indent=2)))
    seal(out / "direction_diagnostics.json", [out / "direction_diagnostics.json", *(out / name for name in figures)])
    for path in (out / "direction_diagnostics.json", selection.candidates_path, selection.root / "selection.json",
                 save_selection_figure(selection)):
        record_artifact(path)
    record_run_info("direction_diagnostics", summary)

    cell = Cell(layer, "add", 0.0)
    n = len(harmful) + len(harmless)
    verdicts.record("diagnostics", "projection_auroc", _exact(float(seen.auroc[layer]), n), cell)
    verdicts.record("diagnostics", "logit_lens_refusal_tokens_in_top",
                    _exact(float(np.mean([t.strip() in REFUSAL_TOKENS for t, _ in top])), len(top)), cell)
    for name, metric in (("contrastive_prefix (prefix_mean)", "cosine_to_contrastive_prefix"),
                         ("unrelated contrast (control)", "cosine_to_unrelated_contrast")):
        verdicts.record("diagnostics", metric, _exact(method_cosines[name], direction.stats.n_prompts), cell)
    assert torch.isfinite(direction.unit).all()
    verdicts.assert_ok()
