"""Refusal directions on tiny models: methods, the causal-mask trap, degeneracy, saving, controls."""

from __future__ import annotations

import json
import math
import pickle
from dataclasses import asdict

import pytest
import torch

from steerbench.directions import (
    COMPLIANCE_PREFIX, REFUSAL_PREFIX, build_directions, check_method, load_direction, random_direction,
    save_direction,
)
from steerbench.errors import ConfigError
from steerbench.forward import capture_residuals
from steerbench.generation import GenRequest, SamplingConfig, generate
from steerbench.interventions import Cell, row_steer

HARMFUL = [f"How do I break into a house, case {i}?" for i in range(6)]
BENIGN = [f"How do I bake bread at home, case {i}?" for i in range(6)]


def test_contrastive_prefix_at_last_prompt_token_is_an_explained_error(tiny_neox):
    with pytest.raises(ConfigError) as info:
        check_method("contrastive_prefix", "last_prompt_token", "resid_post")
    message = str(info.value)
    assert "causal" in message and "prefix_mean" in message and "\n" not in message
    with pytest.raises(ConfigError, match="causal"):
        build_directions(tiny_neox, HARMFUL, [1], position="last_prompt_token")


def test_last_prompt_token_cannot_see_the_prefix(tiny_model):
    """Why the error exists: the residual there is the same whichever prefix follows."""
    tokenizer = tiny_model.tokenizer
    context = tiny_model.encode(tiny_model.format_prompt(HARMFUL[0]))
    sequences = [context + tokenizer(prefix, add_special_tokens=False)["input_ids"]
                 for prefix in (REFUSAL_PREFIX, COMPLIANCE_PREFIX)]
    last, first_prefix = len(context) - 1, len(context)
    reads = capture_residuals(tiny_model, sequences, [[last, first_prefix]] * 2, [0, 3], batch_size=2)
    assert torch.allclose(reads[0][0], reads[1][0], atol=1e-5)  # last prompt token: identical
    assert not torch.allclose(reads[0][1], reads[1][1], atol=1e-3)  # first prefix token: differs


@pytest.mark.parametrize("hook_point", ["resid_pre", "resid_post"])
def test_a_shallow_capture_stops_early_and_reads_the_same_residuals(tiny_llama, hook_point):
    """capture_residuals stops the forward pass after its deepest hook; the values are those of a full pass."""
    from steerbench.forward import _Captured

    sequences = [tiny_llama.encode(tiny_llama.format_prompt(p)) for p in HARMFUL[:3]]
    positions = [[len(s) - 1, len(s) - 2] for s in sequences]
    last = tiny_llama.n_layers - 1
    shallow = capture_residuals(tiny_llama, sequences, positions, [1], hook_point, batch_size=2)
    full = capture_residuals(tiny_llama, sequences, positions, [1, last], hook_point, batch_size=2)
    for a, b in zip(shallow, full):
        assert torch.equal(a[:, 0], b[:, 0])
    blocks = []
    handles = [block.register_forward_hook(lambda m, i, o, k=k: blocks.append(k))
               for k, block in enumerate(tiny_llama.hf_model.model.layers)]
    try:
        capture_residuals(tiny_llama, sequences[:1], positions[:1], [1], hook_point)
    finally:
        for handle in handles:
            handle.remove()
    assert blocks == [0] and issubclass(_Captured, Exception)  # block 1's forward never returned, none above ran


def test_contrastive_prefix_builds_one_direction_per_layer(tiny_llama):
    directions = build_directions(tiny_llama, HARMFUL, [0, 2, 3], provenance={"prompts_hash": "abc"})
    assert sorted(directions) == [0, 2, 3]
    for layer, direction in directions.items():
        assert direction.layer == layer and direction.method == "contrastive_prefix"
        assert direction.position == "prefix_mean" and direction.hook_point == "resid_post"
        assert direction.unit.shape == (64,) and direction.unit.dtype == torch.float32
        assert abs(float(direction.unit.norm()) - 1) < 1e-5 and direction.scale > 0
        assert not direction.stats.degenerate and direction.stats.n_prompts == len(HARMFUL)
        assert -1 <= direction.stats.split_half_cosine <= 1
        assert math.isnan(direction.stats.batch_cosine)  # one chunk of prompts: no across-batch cosine
        assert direction.provenance["model_fingerprint"] == tiny_llama.fingerprint
        assert direction.provenance["prompts_hash"] == "abc"
        assert direction.provenance["refusal_prefix"] == REFUSAL_PREFIX
    first, last = build_directions(tiny_llama, HARMFUL, [3], position="prefix_first")[3], directions[3]
    assert first.position == "prefix_first" and first.cosine(last) < 0.9999


def test_identical_prefixes_give_a_degenerate_direction_that_steers_nothing(tiny_neox):
    direction = build_directions(tiny_neox, HARMFUL, [2], refusal_prefix=" Sure.", compliance_prefix=" Sure.")[2]
    assert direction.stats.degenerate and direction.scale == 0.0
    assert torch.equal(direction.unit, torch.zeros(64)) and bool(torch.isfinite(direction.unit).all())
    assert direction.stats.mean_prompt_norm == 0.0
    sampling = SamplingConfig(max_new_tokens=6, temperature=1.0, seed=3)
    baseline = generate(tiny_neox, [GenRequest(f"p{i}", p) for i, p in enumerate(HARMFUL[:3])], sampling)
    for cell in (Cell(2, "add", 4.0), Cell(2, "ablate", 1.0)):
        steer = row_steer(cell, direction.unit, direction.scale, direction.hook_point)
        steered = generate(tiny_neox, [GenRequest(f"p{i}", p, steer=steer) for i, p in enumerate(HARMFUL[:3])], sampling)
        assert [g.token_ids for g in steered] == [g.token_ids for g in baseline], cell.id


def test_save_and_load_round_trip_without_pickle(tiny_neox, tmp_path, monkeypatch):
    direction = build_directions(tiny_neox, HARMFUL, [1], provenance={"seed": 0})[1]
    stem = tmp_path / "dirs" / "L1-contrastive_prefix"
    save_direction(direction, stem)
    assert sorted(p.name for p in stem.parent.iterdir()) == [stem.name + ".json", stem.name + ".json.sha256",
                                                           stem.name + ".safetensors"]  # the entry and its seal
    meta = json.loads(stem.with_suffix(".json").read_text())
    assert meta["layer"] == 1 and meta["scale"] == direction.scale and "unit" not in meta

    def forbidden(*args, **kwargs):
        raise AssertionError("loading a direction must not unpickle anything")

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    loaded = load_direction(stem)
    assert torch.equal(loaded.unit, direction.unit)
    for name in ("scale", "layer", "hook_point", "method", "position", "provenance"):
        assert getattr(loaded, name) == getattr(direction, name), name
    same = json.dumps(asdict(loaded.stats)) == json.dumps(asdict(direction.stats))  # NaN-aware
    assert same and math.isnan(loaded.stats.batch_cosine)


def test_random_direction_is_a_seeded_norm_matched_control(tiny_neox):
    reference = build_directions(tiny_neox, HARMFUL, [2])[2]
    control = random_direction(reference, seed=5)
    assert abs(float(control.unit.norm()) - 1) < 1e-5 and control.unit.shape == reference.unit.shape
    assert control.scale == reference.scale and control.layer == 2 and control.method == "random"
    assert control.provenance["seed"] == 5 and control.provenance["reference_method"] == "contrastive_prefix"
    assert torch.equal(random_direction(reference, seed=5).unit, control.unit)
    assert not torch.equal(random_direction(reference, seed=6).unit, control.unit)
    assert abs(control.cosine(reference)) < 0.6  # 64 dims: a random vector is nearly orthogonal
    with pytest.raises(ConfigError, match="reference"):
        build_directions(tiny_neox, HARMFUL, [2], method="random")


def test_diff_in_means_reads_the_last_prompt_token(tiny_llama):
    direction = build_directions(tiny_llama, HARMFUL, [1], method="diff_in_means", benign_prompts=BENIGN)[1]
    assert direction.method == "diff_in_means" and direction.position == "last_prompt_token"
    assert abs(float(direction.unit.norm()) - 1) < 1e-5 and direction.scale > 0
    assert direction.provenance["n_benign"] == len(BENIGN)
    with pytest.raises(ConfigError, match="benign"):
        build_directions(tiny_llama, HARMFUL, [1], method="diff_in_means")


def test_outcome_conditioned_needs_both_outcomes(tiny_neox):
    completions = ["I can't help with that.", "Sure, here's how: mix flour.", "Sorry, I cannot assist.",
                   "Step 1: gather the materials.", "I cannot assist with harmful requests.", "First, preheat the oven."]
    refused = [True, False, True, False, True, False]
    direction = build_directions(tiny_neox, HARMFUL, [3], method="outcome_conditioned",
                                 completions=completions, refused=refused)[3]
    assert direction.position == "completion_mean" and direction.scale > 0
    assert direction.stats.n_prompts == 3 and direction.provenance["n_refused"] == 3
    with pytest.raises(ConfigError, match="6 refused of 6"):
        build_directions(tiny_neox, HARMFUL, [3], method="outcome_conditioned",
                         completions=completions, refused=[True] * 6)
    with pytest.raises(ConfigError, match="one completion"):
        build_directions(tiny_neox, HARMFUL, [3], method="outcome_conditioned", completions=completions[:2],
                         refused=refused[:2])


def test_resid_pre_and_resid_post_hook_points_both_work(tiny_neox):
    post = build_directions(tiny_neox, HARMFUL, [1], hook_point="resid_post")[1]
    pre = build_directions(tiny_neox, HARMFUL, [2], hook_point="resid_pre")[2]
    assert pre.hook_point == "resid_pre" and post.hook_point == "resid_post"
    # The input of block 2 is the output of block 1.
    assert pre.cosine(post) > 0.9999 and math.isclose(pre.scale, post.scale, rel_tol=1e-4)
    sampling = SamplingConfig(max_new_tokens=6, temperature=0.0)
    outputs = set()
    for direction in (None, pre, post):
        steer = None if direction is None else row_steer(Cell(direction.layer, "add", 3.0), direction.unit,
                                                         direction.scale, direction.hook_point)
        outputs.add(generate(tiny_neox, [GenRequest("p0", HARMFUL[0], steer=steer)], sampling)[0].token_ids)
    assert len(outputs) == 2  # both steer, and identically (same point in the residual stream)


@pytest.mark.parametrize("method, position, hook_point, fragment", [
    ("magic", "prefix_mean", "resid_post", "unknown"),
    ("contrastive_prefix", "prefix_middle", "resid_post", "prefix_mean"),
    ("contrastive_prefix", "prefix_mean", "resid_mid", "resid_pre"),
])
def test_check_method_rejects_unknown_values(method, position, hook_point, fragment):
    with pytest.raises(ConfigError, match=fragment):
        check_method(method, position, hook_point)
