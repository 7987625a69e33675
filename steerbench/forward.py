"""Teacher-forced batched passes: residual capture (directions) and continuation log-probs (scoring).

Sequences are token-id lists (already formatted and encoded), left-padded into batches; positions
given by callers are indices into the unpadded sequence.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from steerbench.generation import left_pad
from steerbench.interventions import RowSteer, SteeringHooks


def _batches(n: int, batch_size: int, lengths: Sequence[int]):
    order = sorted(range(n), key=lambda i: (lengths[i], i))
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


@torch.inference_mode()
def capture_residuals(
    model,
    sequences: Sequence[Sequence[int]],
    positions: Sequence[Sequence[int]],
    layers: Sequence[int],
    hook_point: str = "resid_post",
    *,
    batch_size: int = 16,
) -> list[torch.Tensor]:
    """Residual stream at the given positions of each sequence.

    Returns:
        One float32 CPU tensor per sequence, shape [len(positions[i]), len(layers), d_model].
    """
    names = [f"blocks.{layer}.hook_{hook_point}" for layer in layers]
    results: list[torch.Tensor | None] = [None] * len(sequences)
    captured: dict[str, torch.Tensor] = {}

    def make_hook(name):
        def hook(resid, hook=None):
            captured[name] = resid.detach()
            return resid
        return hook

    lengths = [len(s) for s in sequences]
    with model.residual_only(), model.bridge.hooks(fwd_hooks=[(name, make_hook(name)) for name in names]):
        for chunk in _batches(len(sequences), batch_size, lengths):
            ids, attention, position_ids = left_pad([sequences[i] for i in chunk], model.tokenizer.pad_token_id, model.device)
            model.hf_model(input_ids=ids, attention_mask=attention, position_ids=position_ids, use_cache=False, logits_to_keep=1)
            width = ids.shape[1]
            stacked = torch.stack([captured[name] for name in names], dim=2).float().cpu()  # [B, S, L, d]
            for row, i in enumerate(chunk):
                offset = width - lengths[i]
                index = torch.tensor([offset + p for p in positions[i]], dtype=torch.long)
                results[i] = stacked[row, index]
    return results  # type: ignore[return-value]


@torch.inference_mode()
def continuation_logprobs(
    model,
    contexts: Sequence[Sequence[int]],
    continuations: Sequence[Sequence[int]],
    steers: Sequence[RowSteer | None] | None = None,
    *,
    batch_size: int = 16,
) -> list[np.ndarray]:
    """log p(continuation token t | context, continuation[:t]) for each pair, optionally steered.

    Steering applies at every real (non-pad) position, prompt and continuation alike, as in
    generation with ``positions="all"``.

    Returns:
        One float64 array per pair with len(continuations[i]) entries (empty continuation: empty).
    """
    steers = steers if steers is not None else [None] * len(contexts)
    full = [list(c) + list(t) for c, t in zip(contexts, continuations)]
    lengths = [len(s) for s in full]
    results: list[np.ndarray | None] = [None] * len(full)
    for chunk in _batches(len(full), batch_size, lengths):
        ids, attention, position_ids = left_pad([full[i] for i in chunk], model.tokenizer.pad_token_id, model.device)
        hooks = SteeringHooks([steers[i] for i in chunk], model.d_model, model.device, model.hf_model.dtype)
        hooks.mask = attention.bool()
        keep = max(len(continuations[i]) for i in chunk) + 1  # only score the tail: no [B, S, vocab] logits
        with model.residual_only(), hooks.installed(model.bridge):
            logits = model.hf_model(input_ids=ids, attention_mask=attention, position_ids=position_ids,
                                    use_cache=False, logits_to_keep=keep).logits
        log_probs = torch.log_softmax(logits.float(), dim=-1)  # [B, keep, vocab], position j = width - keep + j
        width = ids.shape[1]
        for row, i in enumerate(chunk):
            n_cont = len(continuations[i])
            if n_cont == 0:
                results[i] = np.zeros(0)
                continue
            targets = ids[row, width - n_cont:]
            predicted_at = torch.arange(keep - n_cont - 1, keep - 1, device=ids.device)
            results[i] = log_probs[row, predicted_at].gather(-1, targets[:, None]).squeeze(-1).double().cpu().numpy()
    return results  # type: ignore[return-value]
