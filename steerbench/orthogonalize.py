"""Weight orthogonalization: remove a direction from every matrix that writes to the residual stream.

Arditi et al. 2024 (section 4, "weight orthogonalization") show that directional ablation at every
layer (``ablate_all``) is the same model as one whose writing weights are projected off the
direction: W <- W - v v^T W for the token embedding, each attention output projection and each MLP
down projection (and their biases). The residual stream then never gains a component along v, so
the ablation hooks have nothing left to remove. tests/test_orthogonalize.py checks the equivalence
on logits, on tiny models and on the organism.

Where this differs from the reference code: an embedding tied to the unembedding is untied first
(the paper's code edits the shared matrix, which also changes the unembedding once a final norm
with learned weights sits between them), and architectures that normalise a block's output again
before adding it (Gemma 2/3 post-norms) are refused: no weight edit is equivalent there.
"""

from __future__ import annotations

import copy

import torch

from steerbench.interventions import decoder_layers


def _writers(layer) -> tuple[torch.nn.Linear, torch.nn.Linear]:
    """The output projections of one block's attention and MLP (their rows live in the residual stream)."""
    layer = getattr(layer, "_original_component", layer)  # a bridge block: the HF block it runs
    if hasattr(layer, "pre_feedforward_layernorm"):
        raise ValueError(f"{type(layer).__name__} normalises its attention/MLP outputs before adding them "
                         "(post-norms): weight orthogonalization is not equivalent to ablation there; use ablate_all")
    if hasattr(layer, "self_attn"):  # Llama, Qwen, SmolLM2
        return layer.self_attn.o_proj, layer.mlp.down_proj
    if hasattr(layer, "attention"):  # GPT-NeoX
        return layer.attention.dense, layer.mlp.dense_4h_to_h
    raise ValueError(f"weight orthogonalization does not know the output projections of {type(layer).__name__}")


@torch.no_grad()
def _project_out_rows(weight: torch.Tensor, unit: torch.Tensor) -> None:
    """weight [d_model, k] <- (I - v v^T) weight, in place."""
    v = unit.to(weight.dtype).to(weight.device)
    weight -= torch.outer(v, v @ weight)


@torch.no_grad()
def orthogonalized_copy(hf_model, unit: torch.Tensor):
    """A copy of ``hf_model`` whose embedding and output projections are orthogonal to ``unit``.

    Args:
        hf_model: an HF causal LM (Llama-style or GPT-NeoX blocks).
        unit: [d_model] unit vector.

    Returns:
        The edited copy (the original is untouched); the unembedding is untied if it was tied.
    """
    unit = unit / unit.norm()
    edited = copy.deepcopy(hf_model)
    embedding = edited.get_input_embeddings()
    output = edited.get_output_embeddings()
    if output is not None and output.weight.data_ptr() == embedding.weight.data_ptr():
        output.weight = torch.nn.Parameter(output.weight.detach().clone())
        edited.config.tie_word_embeddings = False
    # embedding rows are token vectors in the residual stream: E <- E (I - v v^T)
    embedding.weight -= torch.outer(embedding.weight @ unit.to(embedding.weight.dtype), unit.to(embedding.weight.dtype))
    for layer in decoder_layers(edited):
        for projection in _writers(layer):
            _project_out_rows(projection.weight, unit)
            if projection.bias is not None:
                projection.bias -= unit.to(projection.bias.dtype) * (projection.bias @ unit.to(projection.bias.dtype))
    return edited
