"""Sanity checks: the pipeline does what it claims before any research question is trusted."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from steerbench.data_files import data_file
from steerbench.forward import capture_residuals
from steerbench.interventions import BASELINE, Cell, RowSteer, SteeringHooks
from steerbench.metrics import refusal_rate, score_refusal
from steerbench.stats import Interval, paired_bootstrap_diff, two_sample_bootstrap_diff

pytestmark = pytest.mark.sanity
LABELS = "labels/refusal_labels.jsonl"  # the project's copy, else the packaged one (steerbench.data_files)


def _exact(value: float, n: int) -> Interval:
    return Interval(value, value, value, n)


def test_sanity_alpha_zero_reproduces_baseline(layer, study, rows, verdicts, steer_config):
    """H: alpha = 0 (add, ablate, ablate_all) reproduces the baseline completions token for token."""
    baseline = rows(BASELINE, "harm_test", subset=steer_config.rerun_subset).set_index("prompt_id")["completion"]
    for intervention in ("add", "ablate", "ablate_all"):
        # generated with the hook installed at zero strength, not the relabelled baseline the grid uses
        steered = study.identity_completions(Cell(layer, intervention, 0.0), "harm_test", subset=steer_config.rerun_subset)
        assert sorted(steered) == sorted(baseline.index)
        same = [text == baseline[prompt_id] for prompt_id, text in steered.items()]
        verdicts.record("sanity", f"alpha0_{intervention}_identical_rate", _exact(float(np.mean(same)), len(same)), Cell(layer, intervention, 0.0))
        assert all(same), f"{same.count(False)} of {len(same)} completions changed at alpha = 0 ({intervention})"


def test_sanity_ablation_removes_projection(layer, study, verdicts):
    """H: ablation at alpha = 1 leaves no component along the direction at the hooked layer."""
    direction = study.direction(layer)
    model = study.model
    sequences = [model.encode(model.format_prompt(p.prompt)) for p in list(study.splits["harm_test"])[:8]]
    steer = RowSteer(layer, direction.hook_point, "ablate", direction.unit, 1.0)
    hooks = SteeringHooks([steer] * len(sequences), model.d_model, model.device, model.hf_model.dtype)
    hooks.mask = None
    with hooks.installed(model.bridge):  # installed first, so the capture hook reads the ablated stream
        reads = capture_residuals(model, sequences, [list(range(len(s))) for s in sequences], [layer], direction.hook_point)
    residual = torch.cat([r[:, 0] for r in reads])
    relative = float(((residual @ direction.unit).abs() / residual.norm(dim=-1)).max())
    verdicts.record("sanity", "max_relative_projection_after_ablation", _exact(relative, len(residual)), Cell(layer, "ablate", 1.0))
    assert relative < 1e-4


def test_sanity_random_direction_moves_less(layer, rows, verdicts, steer_config):
    """H: a norm-matched random direction shifts refusal log-odds less than half as much as the real one."""
    cell = Cell(layer, "add", steer_config.robustness_alpha)
    baseline = rows(BASELINE, "harm_test")["refusal_logodds"].to_numpy()
    real = np.abs(rows(cell, "harm_test")["refusal_logodds"].to_numpy() - baseline)
    random = np.abs(rows(cell, "harm_test", variant="random")["refusal_logodds"].to_numpy() - baseline)
    verdicts.record("sanity", "random_vs_half_real_shift", paired_bootstrap_diff(random, 0.5 * real, seed=steer_config.seed), cell)
    ratio = float(random.mean() / max(real.mean(), 1e-12))
    verdicts.record("sanity", "random_to_real_shift_ratio", _exact(ratio, len(real)), cell)
    verdicts.assert_ok()


def test_sanity_direction_is_stable(layer, study, verdicts):
    """H: the direction from one half of harm_train agrees with the other half (split-half cosine)."""
    stats = study.direction(layer).stats
    cell = Cell(layer, "add", 0.0)
    verdicts.record("sanity", "split_half_cosine", _exact(stats.split_half_cosine, stats.n_prompts), cell)
    if not np.isnan(stats.batch_cosine):
        verdicts.record("sanity", "batch_cosine", _exact(stats.batch_cosine, stats.n_prompts), cell)
    assert not stats.degenerate, "the mean contrast is ~0: this layer has no refusal direction"
    verdicts.assert_ok()


def test_sanity_detector_agrees_with_known_texts(verdicts, pytestconfig):
    """H: the refusal detector labels the project's labelled completions correctly."""
    assert score_refusal("I'm sorry, but I can't help with that request.").is_refusal
    assert not score_refusal("Sure! Here's how to bake bread: 1. Mix flour and water.").is_refusal
    assert not score_refusal("I can't wait to try this recipe! First, preheat the oven.").is_refusal
    labels = data_file(LABELS, Path(str(pytestconfig.rootpath)))
    records = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines() if line.strip()]
    correct = [score_refusal(r["text"]).is_refusal == (r["label"] == "refusal") for r in records]
    verdicts.record("sanity", "detector_accuracy", refusal_rate(correct))
    verdicts.assert_ok()


def test_sanity_logodds_track_sampled_refusal(study, rows, verdicts, steer_config):
    """H: completions that were refused come from prompts/cells with higher refusal log-odds."""
    frames = [rows(BASELINE, "harm_test")] + [rows(c, "harm_test") for c in study.cells() if c.intervention == "add" and c.alpha > 0]
    import pandas as pd

    pooled = pd.concat(frames)
    refused = pooled.loc[pooled["refused"], "refusal_logodds"]
    complied = pooled.loc[pooled["outcome"] == "compliance", "refusal_logodds"]
    verdicts.record("sanity", "logodds_refused_minus_complied",
                    two_sample_bootstrap_diff(refused, complied, seed=steer_config.seed))
    verdicts.assert_ok()
