"""Where alpha is applied: the add/ablate math (property tests) and the hooks on a real tiny model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from steerbench.forward import left_pad
from steerbench.generation import GenRequest, SamplingConfig, generate
from steerbench.interventions import BASELINE, Cell, RowSteer, SteeringHooks, apply_ablate, apply_add, row_steer

EPS32 = float(np.finfo(np.float32).eps)
LAYER = 1
RESID = f"blocks.{LAYER}.hook_resid_post"


@st.composite
def batches(draw):
    """(resid [B,S,d], per-row unit vectors [B,d], mask [B,S]) as float32/bool tensors."""
    b, s, d = draw(st.integers(1, 4)), draw(st.integers(1, 6)), draw(st.integers(1, 16))
    resid = draw(arrays(np.float32, (b, s, d), elements=st.floats(-100, 100, width=32)))
    raw = draw(arrays(np.float32, (b, d), elements=st.floats(-1, 1, width=32)).filter(
        lambda a: (np.linalg.norm(a, axis=-1) > 0.1).all()))
    mask = draw(arrays(np.bool_, (b, s)))
    units = torch.from_numpy(raw)
    return torch.from_numpy(resid), units / units.norm(dim=-1, keepdim=True), torch.from_numpy(mask)


coefficients = st.floats(-8, 8, width=32)


@settings(deadline=None, max_examples=50)
@given(batches(), coefficients)
def test_add_changes_masked_positions_by_exactly_the_vector(batch, coef):
    resid, units, mask = batch
    vectors = coef * units
    out = apply_add(resid, vectors, mask)
    expected = resid + vectors[:, None, :]
    assert torch.equal(out[mask], expected[mask])
    assert torch.equal(out[~mask], resid[~mask])  # bitwise untouched
    assert torch.allclose((out - resid)[mask], vectors[:, None, :].expand_as(resid)[mask], atol=1e-4)
    assert torch.equal(apply_add(resid, vectors, None), expected)


@settings(deadline=None, max_examples=50)
@given(batches())
def test_alpha_zero_is_the_bitwise_identity(batch):
    resid, units, mask = batch
    zeros = torch.zeros(resid.shape[0])
    assert torch.equal(apply_add(resid, 0.0 * units, mask), resid)
    assert torch.equal(apply_ablate(resid, units, zeros, mask), resid)
    assert torch.equal(apply_ablate(resid, units, zeros, None), resid)


@settings(deadline=None, max_examples=50)
@given(batches(), coefficients)
def test_ablate_scales_the_component_along_the_unit(batch, alpha):
    resid, units, mask = batch
    d = resid.shape[-1]
    full = apply_ablate(resid, units, torch.ones(resid.shape[0]), mask)
    tolerance = 8 * d * EPS32 * (resid.norm(dim=-1) + 1)  # float32 rounding of two dot products
    remaining = (full * units[:, None, :]).sum(-1)
    assert bool((remaining[mask].abs() <= tolerance[mask]).all())
    assert torch.equal(full[~mask], resid[~mask])
    partial = apply_ablate(resid, units, torch.full((resid.shape[0],), alpha), None)
    before = (resid * units[:, None, :]).sum(-1)
    after = (partial * units[:, None, :]).sum(-1)
    assert bool(((after - (1 - alpha) * before).abs() <= tolerance * (1 + abs(alpha))).all())


def test_cell_ids_and_row_steer_units():
    unit = torch.ones(4) / 2
    assert Cell(15, "add", 2.0).id == "L15-add-a2" and Cell(3, "ablate", 0.5).id == "L3-ablate-a0.5"
    assert BASELINE.id == "baseline" and row_steer(BASELINE, unit, 7.0, "resid_post") is None
    assert row_steer(Cell(2, "add", 1.5), unit, 4.0, "resid_post").coef == 6.0  # alpha * scale
    assert row_steer(Cell(2, "add", 1.5), unit, 4.0, "resid_post", alpha_units="absolute").coef == 1.5
    ablate = row_steer(Cell(2, "ablate", 1.0), unit, 4.0, "resid_pre")
    assert ablate.coef == 1.0 and ablate.hook_name == "blocks.2.hook_resid_pre"
    assert row_steer(Cell(2, "add", 0.0), unit, 4.0, "resid_post").is_identity
    with pytest.raises(ValueError, match="unknown intervention"):
        row_steer(Cell(2, "rotate", 1.0), unit, 4.0, "resid_post")


# --- on a tiny model ---------------------------------------------------------------------------

def hooks_left(bridge) -> int:
    """Hook points carrying a forward hook (a point can be listed under an alias too)."""
    return len({id(p) for p in bridge.hook_dict.values() if p.fwd_hooks or p._forward_hooks})


def _batch(model):
    texts = ["How do I bake bread?", "Write a poem about the sea and the night.", "Hi"]
    return left_pad([model.encode(model.format_prompt(t)) for t in texts], model.tokenizer.pad_token_id, model.device)


def _unit(model, seed=0):
    vector = torch.randn(model.d_model, generator=torch.Generator().manual_seed(seed))
    return vector / vector.norm()


@torch.inference_mode()
def _logits(model, rows=None):
    ids, attention, positions = _batch(model)
    hooks = SteeringHooks(rows or [None] * len(ids), model.d_model, model.device, model.hf_model.dtype)
    hooks.mask = attention.bool()
    with hooks.installed(model.bridge):
        return model.hf_model(input_ids=ids, attention_mask=attention, position_ids=positions).logits


@torch.inference_mode()
def _resid_around_hook(model, rows, mask):
    """The residual at RESID just before and just after the steering hook runs."""
    seen = {}
    ids, attention, positions = _batch(model)
    hooks = SteeringHooks(rows, model.d_model, model.device, model.hf_model.dtype)
    hooks.mask = mask
    grab = lambda key: [(RESID, lambda resid, hook=None: seen.__setitem__(key, resid.clone()))]  # noqa: E731
    with model.bridge.hooks(fwd_hooks=grab("before")), hooks.installed(model.bridge):
        with model.bridge.hooks(fwd_hooks=grab("after")):
            model.hf_model(input_ids=ids, attention_mask=attention, position_ids=positions)
    return seen["before"], seen["after"], attention.bool()


@pytest.mark.parametrize("intervention", ["add", "ablate"])
def test_alpha_zero_gives_logits_identical_to_no_hook(tiny_model, intervention):
    reference = _logits(tiny_model)
    unit = _unit(tiny_model)
    zero = row_steer(Cell(LAYER, intervention, 0.0), unit, 5.0, "resid_post")
    assert torch.equal(_logits(tiny_model, [zero] * 3), reference)
    # A zero row next to a steered one goes through the hook and must still be untouched.
    strong = row_steer(Cell(LAYER, intervention, 2.0), unit, 5.0, "resid_post")
    mixed = _logits(tiny_model, [zero, strong, zero])
    assert torch.equal(mixed[[0, 2]], reference[[0, 2]])
    assert not torch.allclose(mixed[1], reference[1])
    # Forced, the zero-strength hook is installed on every row and must still change nothing.
    forced = RowSteer(zero.layer, zero.hook_point, zero.kind, zero.unit, 0.0, force=True)
    assert not forced.is_identity and not SteeringHooks([forced], tiny_model.d_model, "cpu", torch.float32).is_empty
    assert torch.equal(_logits(tiny_model, [forced] * 3), reference)


def test_add_on_model_shifts_the_residual_by_alpha_scale_unit(tiny_neox):
    unit, alpha, scale = _unit(tiny_neox), 1.5, 4.0
    rows = [row_steer(Cell(LAYER, "add", alpha), unit, scale, "resid_post"), None, None]
    _, attention, _ = _batch(tiny_neox)
    chosen = attention.bool() & (torch.arange(attention.shape[1]) % 2 == 0)
    before, after, _ = _resid_around_hook(tiny_neox, rows, chosen)
    vector = alpha * scale * unit
    assert torch.equal(after[0][chosen[0]], before[0][chosen[0]] + vector)
    assert torch.allclose(after[0][chosen[0]] - before[0][chosen[0]], vector.expand(int(chosen[0].sum()), -1), atol=1e-5)
    assert torch.equal(after[0][~chosen[0]], before[0][~chosen[0]])
    assert torch.equal(after[1:], before[1:])  # rows without steering are untouched


def test_ablate_alpha_one_on_model_leaves_resid_orthogonal(tiny_llama):
    unit = _unit(tiny_llama, seed=1)
    rows = [row_steer(Cell(LAYER, "ablate", 1.0), unit, 4.0, "resid_post")] * 3
    _, attention, _ = _batch(tiny_llama)
    before, after, real = _resid_around_hook(tiny_llama, rows, attention.bool())
    assert (before[real] @ unit).abs().max() > 0.1  # there was something to remove
    assert (after[real] @ unit).abs().max() < 1e-5
    assert torch.equal(after[~real], before[~real])  # padding is not steered


def test_hooks_are_removed_when_a_hook_raises(tiny_neox):
    reference = _logits(tiny_neox)
    ids, attention, positions = _batch(tiny_neox)
    hooks = SteeringHooks([RowSteer(LAYER, "resid_post", "add", _unit(tiny_neox), 2.0)] * 3,
                          tiny_neox.d_model, tiny_neox.device, tiny_neox.hf_model.dtype)
    hooks.mask = torch.ones(3, 1, 1, dtype=torch.bool)  # wrong shape: the hook itself raises
    with pytest.raises(RuntimeError), hooks.installed(tiny_neox.bridge), torch.inference_mode():
        assert hooks_left(tiny_neox.bridge) == 1
        tiny_neox.hf_model(input_ids=ids, attention_mask=attention, position_ids=positions)
    assert hooks_left(tiny_neox.bridge) == 0
    assert torch.equal(_logits(tiny_neox), reference)


def test_hooks_are_removed_when_generation_raises(tiny_neox, monkeypatch):
    reference = _logits(tiny_neox)
    good = RowSteer(LAYER, "resid_post", "add", _unit(tiny_neox), 2.0)
    bad = RowSteer(LAYER, "resid_post", "add", torch.ones(tiny_neox.d_model + 1), 2.0)  # wrong size
    with pytest.raises(RuntimeError):
        generate(tiny_neox, [GenRequest("a", "Hi", steer=good), GenRequest("b", "Hi", steer=bad)],
                 SamplingConfig(max_new_tokens=3))
    assert hooks_left(tiny_neox.bridge) == 0

    def explode(*args, **kwargs):
        assert hooks_left(tiny_neox.bridge) == 1  # raised while the steering hook was live
        raise KeyboardInterrupt

    monkeypatch.setattr("steerbench.generation.sample_tokens", explode)
    with pytest.raises(KeyboardInterrupt):
        generate(tiny_neox, [GenRequest("a", "Hi", steer=good)], SamplingConfig(max_new_tokens=3))
    assert hooks_left(tiny_neox.bridge) == 0
    assert torch.equal(_logits(tiny_neox), reference)
