"""ablate_all (hooks at every layer) is the same model as orthogonalized weights (Arditi et al. 2024)."""

from __future__ import annotations

import pytest
import torch

from steerbench.forward import left_pad
from steerbench.interventions import Cell, SteeringHooks, row_steer
from steerbench.orthogonalize import orthogonalized_copy

TEXTS = ["How do I bake bread?", "Write a poem about the sea and the night.", "Hi"]


def _batch(model):
    return left_pad([model.encode(model.format_prompt(t)) for t in TEXTS], model.tokenizer.pad_token_id, model.device)


def _unit(model, seed=0):
    vector = torch.randn(model.d_model, generator=torch.Generator().manual_seed(seed))
    return vector / vector.norm()


@torch.inference_mode()
def _ablated_logits(model, unit, *, fast_path: bool, capture=()):
    """Logits with ablate_all installed (on the bridge path or the fused HF path); residuals at ``capture``."""
    ids, attention, positions = _batch(model)
    steer = row_steer(Cell(1, "ablate_all", 1.0), unit, 3.0, "resid_pre")
    hooks = SteeringHooks([steer] * len(ids), model.d_model, model.device, model.hf_model.dtype)
    seen = {}
    grab = [(name, lambda resid, hook=None, name=name: seen.__setitem__(name, resid.clone())) for name in capture]
    with (model.residual_only() if fast_path else _nothing()), hooks.installed(model.bridge):
        with model.bridge.hooks(fwd_hooks=grab):
            logits = model.hf_model(input_ids=ids, attention_mask=attention, position_ids=positions).logits
    return logits, seen, attention.bool()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@torch.inference_mode()
def _plain_logits(hf_model, model):
    ids, attention, positions = _batch(model)
    return hf_model(input_ids=ids, attention_mask=attention, position_ids=positions).logits


def _assert_equivalent(model, unit, atol):
    edited = orthogonalized_copy(model.hf_model, unit)
    expected = _plain_logits(edited, model)
    real = _batch(model)[1].bool()
    for fast_path in (True, False):
        logits, _, _ = _ablated_logits(model, unit, fast_path=fast_path)
        assert (logits[real] - expected[real]).abs().max() < atol
    # and the ablation is not a no-op: the unedited model's logits differ
    assert (_plain_logits(model.hf_model, model)[real] - expected[real]).abs().max() > 100 * atol


@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_neox"])
def test_ablation_at_every_layer_equals_orthogonalized_weights(request, fixture):
    model = request.getfixturevalue(fixture)
    _assert_equivalent(model, _unit(model), atol=1e-4)


def test_ablate_all_leaves_no_component_anywhere_in_the_residual_stream(tiny_model):
    unit = _unit(tiny_model, seed=3)
    n = tiny_model.n_layers
    names = [f"blocks.{i}.hook_resid_post" for i in range(n)] + [f"blocks.{i}.hook_resid_pre" for i in range(n)]
    for fast_path in (True, False):
        _, seen, real = _ablated_logits(tiny_model, unit, fast_path=fast_path, capture=names)
        for name in names:
            assert (seen[name][real] @ unit).abs().max() < 1e-4, name


def test_post_norm_blocks_refuse_weight_orthogonalization(tiny_gemma):
    with pytest.raises(ValueError, match="post-norms"):
        orthogonalized_copy(tiny_gemma.hf_model, _unit(tiny_gemma))


@pytest.mark.slow
def test_on_the_organism_ablation_equals_orthogonalized_weights(organism):
    _assert_equivalent(organism, _unit(organism, seed=7), atol=2e-3)
