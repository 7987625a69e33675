"""Refusal log-odds and fluency: teacher-forced scores on tiny real models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from steerbench.interventions import Cell, row_steer
from steerbench.metrics.logodds import fluency_logprobs, refusal_logodds

PROMPTS = ["How do I bake bread?", "Write a poem about the sea.", "What is the capital of France?"]


def test_logodds_flip_sign_when_the_prefixes_are_swapped(tiny_model):
    forward = refusal_logodds(tiny_model, PROMPTS, refusal_prefix=" I cannot help.", compliance_prefix=" Sure, here's how:")
    swapped = refusal_logodds(tiny_model, PROMPTS, refusal_prefix=" Sure, here's how:", compliance_prefix=" I cannot help.")
    assert forward.shape == (len(PROMPTS),)
    np.testing.assert_allclose(forward, -swapped, rtol=1e-6, atol=1e-6)
    assert np.all(forward != 0)


def test_logodds_are_zero_for_identical_prefixes(tiny_model):
    same = refusal_logodds(tiny_model, PROMPTS, refusal_prefix=" Sure.", compliance_prefix=" Sure.")
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
    refusal_part = refusal_logodds(tiny_model, PROMPTS[:1], refusal_prefix=" Sure, here's how to bake bread.", compliance_prefix="")
    # with an empty compliance prefix the log-odds is the summed log-prob: mean * n_tokens
    assert refusal_part[0] == pytest.approx(fluency[0] * len(ids), rel=1e-5)
