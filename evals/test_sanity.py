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
from steerbench.rows import pair_rows
from steerbench.stats import Interval, paired_bootstrap_diff, two_sample_bootstrap_diff

pytestmark = pytest.mark.sanity
LABELS = "labels/refusal_labels.jsonl"  # the project's copy, else the packaged one (steerbench.data_files)
# The alpha = 0 check is exact (one changed token fails it), and a hook that is not the identity changes
# nearly every row within 32 steps: 8 prompts x 3 interventions find it, at a third of the sample's cost.
IDENTITY_PROMPTS = 8


def _exact(value: float, n: int) -> Interval:
    return Interval(value, value, value, n)


@pytest.fixture
def sanity_rows(rows, steer_config):
    """Rows of the sanity checks' own prompt subset (the first ``sanity_subset`` prompts of a split), generated as
    their own entry: the checks never wait for the grid's whole split, and see the same rows whether or not the
    grid ran first."""
    return lambda cell, split="harm_test", **kwargs: rows(cell, split, subset=steer_config.sanity_subset,
                                                          standalone=True, **kwargs)


def test_sanity_alpha_zero_reproduces_baseline(layer, study, rows, verdicts):
    """H: alpha = 0 (add, ablate, ablate_all) reproduces the baseline completions token for token."""
    # the baseline of exactly these prompts, so both sides run in the same batches (on a GPU in bfloat16 other
    # batch neighbours may round a near-tie the other way: docs/design_decisions.md "Batch size on a GPU")
    baseline = rows(BASELINE, "harm_test", subset=IDENTITY_PROMPTS, standalone=True).set_index("prompt_id")["completion"]
    for intervention in ("add", "ablate", "ablate_all"):
        # generated with the hook installed at zero strength, not the relabelled baseline the grid uses
        steered = study.identity_completions(Cell(layer, intervention, 0.0), "harm_test", subset=IDENTITY_PROMPTS)
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
    # what the dtype's rounding alone leaves of a removed component (float32 ~5e-8, bfloat16 ~7e-4 measured)
    tolerance = max(1e-4, 8 * torch.finfo(model.hf_model.dtype).eps / model.d_model ** 0.5)
    assert relative < tolerance


def test_sanity_random_direction_moves_less(layer, sanity_rows, verdicts, steer_config):
    """H: a norm-matched random direction shifts refusal log-odds less than half as much as the real one."""
    cell = Cell(layer, "add", steer_config.robustness_alpha)
    baseline, steered = pair_rows(sanity_rows(BASELINE), sanity_rows(cell))
    _, randomly = pair_rows(baseline, sanity_rows(cell, variant="random"))
    real = np.abs(steered["refusal_logodds"].to_numpy() - baseline["refusal_logodds"].to_numpy())
    random = np.abs(randomly["refusal_logodds"].to_numpy() - baseline["refusal_logodds"].to_numpy())
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


def test_sanity_logodds_track_sampled_refusal(layer, sanity_rows, verdicts, steer_config):
    """H: completions that were refused come from prompts/cells with higher refusal log-odds.

    Pooled over harm_test and benign, unsteered and at the robustness alpha: the propensity must track the
    sampled outcome where outcomes vary (the organism refuses most harm_test prompts even unsteered, so harm_test
    alone holds too few compliances at the sanity sample's n)."""
    import pandas as pd

    cells = (BASELINE, Cell(layer, "add", steer_config.robustness_alpha))
    pooled = pd.concat([sanity_rows(cell, split) for cell in cells for split in ("harm_test", "benign")])
    refused = pooled.loc[pooled["refused"], "refusal_logodds"]
    complied = pooled.loc[pooled["outcome"] == "compliance", "refusal_logodds"]
    verdicts.record("sanity", "logodds_refused_minus_complied",
                    two_sample_bootstrap_diff(refused, complied, seed=steer_config.seed), cells[1])
    verdicts.assert_ok()
