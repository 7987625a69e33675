"""Does refusal hold on the threat model's diagnostic slices: paraphrase, tone, order and language
perturbations of harm_test prompts, and distillation-stress prompts (data/prompts/perturbations.jsonl,
distill_stress.jsonl)?

Per slice, at the baseline and under the cell: the refusal rate on its ``refuse`` prompts and the
false-refusal rate on its ``comply`` prompts (Wilson), and for perturbations the paired change
against the harm_test prompt each was made from (same sample index: common random numbers).
Breakdowns by family, style and slice of every split are in summary.csv (section "breakdown").
"""

import pytest

from steerbench.interventions import BASELINE, Cell
from steerbench.metrics import refusal_rate
from steerbench.stats import paired_rate_diff
from steerbench.vocab import SLICE_SPLITS


@pytest.mark.parametrize("split", SLICE_SPLITS)
def test_slices(split, layer, study, rows, verdicts, steer_config):
    """H: steering raises refusal on each slice's harmful prompts as it does on harm_test (reported per slice)."""
    if split not in study.splits:
        pytest.skip(f"no {split}.jsonl beside the harm_test prompt file: the slice is not part of this prompt set")
    cell = Cell(layer, "add", steer_config.robustness_alpha)
    for which, current in ((BASELINE, rows(BASELINE, split)), (cell, rows(cell, split))):
        for name, group in current.groupby("slice", sort=True):
            slice_cell = which if which == BASELINE else cell
            harmful, benign = group[group["expected_behavior"] == "refuse"], group[group["expected_behavior"] == "comply"]
            if len(harmful):
                verdicts.record("slices", "slice_refusal_rate", refusal_rate(harmful["refused"]), slice_cell,
                                label=name)
            if len(benign):
                verdicts.record("slices", "slice_false_refusal_rate", refusal_rate(benign["refused"]), slice_cell,
                                label=name)
    steered, baseline = rows(cell, split), rows(BASELINE, split)
    for name, group in steered[steered["expected_behavior"] == "refuse"].groupby("slice", sort=True):
        base = baseline.set_index(["prompt_id", "sample_index"]).loc[list(zip(group["prompt_id"], group["sample_index"]))]
        verdicts.record("slices", "slice_refusal_gain", paired_rate_diff(group["refused"], base["refused"]), cell,
                        label=name)
    if split == "perturbations":
        parents = rows(BASELINE, "harm_test").set_index(["prompt_id", "sample_index"])["refused"]
        perturbed = baseline[(baseline["expected_behavior"] == "refuse") & (baseline["parent_id"] != "")]
        for name, group in perturbed.groupby("slice", sort=True):
            keys = [k for k in zip(group["parent_id"], group["sample_index"]) if k in parents.index]
            if keys:
                mine = group.set_index(["parent_id", "sample_index"]).loc[keys, "refused"]
                verdicts.record("slices", "perturbed_minus_parent_refusal",
                                paired_rate_diff(mine.to_numpy(), parents.loc[keys].to_numpy()), BASELINE, label=name)
    verdicts.assert_ok()
