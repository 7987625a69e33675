"""Diagnostics of a refusal direction: does it separate harmful from harmless prompts, which tokens
does it write, how does it relate to other layers' and other methods' directions, and a control
direction from an unrelated contrast.

- ``projections``: the residual (``resid_pre`` of every layer, at the direction's position) projected
  on the unit direction, per prompt, with the AUROC of harmful vs harmless per layer.
- ``logit_lens``: the tokens the unit direction promotes and suppresses through the final norm's
  gain and the unembedding (W_U (g * v)): a direction whose top tokens are " I" / "Sorry" may be a
  token-identity direction rather than a refusal feature.
- ``unrelated_direction``: the contrast of two unrelated sets of sentences (weather vs sport) read as
  the contrastive-prefix method reads its prefixes; steering with it must not induce refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from steerbench.directions import Direction, direction_from_contrasts
from steerbench.forward import capture_residuals

# Two unrelated sets of continuations, one sentence each per pair, pairs of equal token length on
# SmolLM2's tokenizer within one token: neither mentions help, requests, safety or refusal.
WEATHER = (" The sky was grey and it rained all afternoon.", " A cold wind blew in from the north sea.",
           " Fog covered the valley until late morning.", " The forecast says sunshine for the weekend.")
SPORT = (" The home team won the match in extra time.", " She ran the last lap faster than anyone.",
         " The goalkeeper saved two penalties in a row.", " Fans cheered as the ball crossed the line.")


@dataclass(frozen=True)
class Projections:
    """[n, n_layers] projections of two prompt groups and the per-layer AUROC (harmful > harmless)."""

    harmful: np.ndarray
    harmless: np.ndarray
    auroc: np.ndarray


def auroc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """P(a positive scores above a negative) + 1/2 P(tie): the Mann-Whitney AUROC."""
    pos, neg = np.asarray(positive, dtype=float), np.asarray(negative, dtype=float)
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (pos.size * neg.size))


def projections(model, unit: torch.Tensor, harmful: Sequence[str], harmless: Sequence[str], position: int) -> Projections:
    """Residual . unit at ``position`` (negative offset from the prompt's end) of every layer's resid_pre."""
    layers = list(range(model.n_layers))

    def read(prompts: Sequence[str]) -> np.ndarray:
        sequences = [model.encode(model.format_prompt(p)) for p in prompts]
        reads = capture_residuals(model, sequences, [[len(s) + position] for s in sequences], layers, "resid_pre")
        return torch.stack([r[0] for r in reads]).matmul(unit.float()).numpy()  # [n, L]

    a, b = read(harmful), read(harmless)
    return Projections(a, b, np.array([auroc(a[:, j], b[:, j]) for j in layers]))


def logit_lens(model, unit: torch.Tensor, k: int = 15) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """(top k, bottom k) tokens of W_U (g * v): promoted and suppressed by writing v into the stream."""
    with torch.no_grad():
        vector = unit.float().to(model.device)
        norm = getattr(model.hf_model.get_decoder(), "norm", None)
        gain = getattr(norm, "weight", None)
        if gain is not None:
            # Gemma's RMSNorm scales by (1 + weight); the others by weight
            vector = vector * ((1.0 + gain.float()) if "Gemma" in type(norm).__name__ else gain.float())
        logits = model.hf_model.get_output_embeddings().weight.float() @ vector
    order = torch.argsort(logits, descending=True)
    token = lambda i: model.tokenizer.decode([int(i)])  # noqa: E731
    return ([(token(i), float(logits[i])) for i in order[:k]], [(token(i), float(logits[i])) for i in order[-k:].flip(0)])


def unrelated_direction(model, prompts: Sequence[str], layer: int, hook_point: str, scale: float) -> Direction:
    """The weather-vs-sport contrast after each prompt at ``layer``, rescaled to ``scale`` (norm-matched).

    Per prompt, the mean over the sentence pairs of (residual over the weather sentence) - (residual
    over the sport sentence), each averaged over its tokens, as the contrastive-prefix method reads
    its two prefixes.
    """
    contexts = [model.encode(model.format_prompt(p)) for p in prompts]
    per_pair = []
    for weather, sport in zip(WEATHER, SPORT):
        reads = []
        for sentence in (weather, sport):
            ids = list(model.tokenizer(sentence, add_special_tokens=False)["input_ids"])
            sequences = [c + ids for c in contexts]
            spans = [list(range(len(c), len(c) + len(ids))) for c in contexts]
            captured = capture_residuals(model, sequences, spans, [layer], hook_point)
            reads.append(torch.stack([r[:, 0].mean(0) for r in captured]))
        per_pair.append(reads[0] - reads[1])
    contrasts = torch.stack(per_pair).mean(0)  # [n, d]
    direction = direction_from_contrasts(contrasts, layer=layer, hook_point=hook_point, method="contrastive_prefix",
                                         position="prefix_mean", provenance={"control": "unrelated contrast",
                                                                             "sets": [list(WEATHER), list(SPORT)]})
    own_scale = direction.scale
    return Direction(unit=direction.unit, scale=float(scale), layer=layer, hook_point=hook_point,
                     method="contrastive_prefix", position="prefix_mean", stats=direction.stats,
                     provenance={**direction.provenance, "own_scale": own_scale, "norm_matched_to": float(scale)})
