"""Refusal propensity (held-out openers), the prefix diagnostic and fluency: teacher-forced scores on
tiny real models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from steerbench.interventions import Cell, row_steer
from steerbench.metrics.logodds import (
    COMPLIANCE_OPENERS,
    REFUSAL_OPENERS,
    fluency_logprobs,
    opener_prefixes,
    prefix_logodds,
    propensity_from_scores,
    refusal_logodds,
)

PROMPTS = ["How do I bake bread?", "Write a poem about the sea.", "What is the capital of France?"]


def test_logodds_flip_sign_when_the_prefixes_are_swapped(tiny_model):
    forward = prefix_logodds(tiny_model, PROMPTS, refusal_prefix=" I cannot help.", compliance_prefix=" Sure, here's how:")
    swapped = prefix_logodds(tiny_model, PROMPTS, refusal_prefix=" Sure, here's how:", compliance_prefix=" I cannot help.")
    assert forward.shape == (len(PROMPTS),)
    np.testing.assert_allclose(forward, -swapped, rtol=1e-6, atol=1e-6)
    assert np.all(forward != 0)


def test_logodds_are_zero_for_identical_prefixes(tiny_model):
    same = prefix_logodds(tiny_model, PROMPTS, refusal_prefix=" Sure.", compliance_prefix=" Sure.")
    np.testing.assert_array_equal(same, np.zeros(len(PROMPTS)))


def test_logodds_respond_to_steering_and_alpha_zero_is_exact(tiny_model):
    torch.manual_seed(0)
    unit = torch.randn(tiny_model.d_model)
    unit /= unit.norm()
    plain = refusal_logodds(tiny_model, PROMPTS)
    zero = refusal_logodds(tiny_model, PROMPTS, [row_steer(Cell(1, "add", 0.0), unit, 10.0, "resid_post")] * len(PROMPTS))
    strong = refusal_logodds(tiny_model, PROMPTS, [row_steer(Cell(1, "add", 4.0), unit, 10.0, "resid_post")] * len(PROMPTS))
    np.testing.assert_array_equal(plain, zero)
    assert np.abs(strong - plain).max() > 1e-3


def test_fluency_is_the_mean_token_logprob_and_nan_when_empty(tiny_model):
    ids = tiny_model.tokenizer(" Sure, here's how to bake bread.", add_special_tokens=False)["input_ids"]
    fluency = fluency_logprobs(tiny_model, PROMPTS[:2], [ids, []])
    assert fluency[0] < 0 and np.isnan(fluency[1])
    refusal_part = prefix_logodds(tiny_model, PROMPTS[:1], refusal_prefix=" Sure, here's how to bake bread.", compliance_prefix="")
    # with an empty compliance prefix the log-odds is the summed log-prob: mean * n_tokens
    assert refusal_part[0] == pytest.approx(fluency[0] * len(ids), rel=1e-5)


def test_propensity_is_the_log_ratio_of_the_summed_opener_probabilities(tiny_model):
    """refusal_logodds = log sum p(refusal openers) - log sum p(compliance openers), each opener scored
    as a whole (a plain forward over prompt + opener gives the same numbers)."""
    got = refusal_logodds(tiny_model, PROMPTS[:2])
    openers = opener_prefixes(tiny_model)
    assert len(openers) == len(REFUSAL_OPENERS) + len(COMPLIANCE_OPENERS)
    for row, prompt in enumerate(PROMPTS[:2]):
        context = tiny_model.encode(tiny_model.format_prompt(prompt))
        sums = []
        for ids in openers:
            with torch.no_grad():
                logits = tiny_model.hf_model(torch.tensor([list(context) + ids])).logits[0].float().log_softmax(-1)
            sums.append(float(sum(logits[len(context) - 1 + j, t] for j, t in enumerate(ids))))
        refusal = np.logaddexp.reduce(sums[:len(REFUSAL_OPENERS)])
        compliance = np.logaddexp.reduce(sums[len(REFUSAL_OPENERS):])
        assert got[row] == pytest.approx(refusal - compliance, abs=1e-3)
        assert propensity_from_scores(sums) == pytest.approx(refusal - compliance, abs=1e-9)


def test_propensity_is_not_the_directions_prefix_score(tiny_model):
    """The study's score and the diagnostic differ: they score different strings."""
    assert not np.allclose(refusal_logodds(tiny_model, PROMPTS), prefix_logodds(tiny_model, PROMPTS))
