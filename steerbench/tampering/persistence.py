"""Does the refusal direction survive an attack? Per layer, the attacked model's own diff-in-means
direction against the untampered one, and how well the untampered direction still separates harmful
from harmless prompts in the attacked model's residual stream.

Both directions are read the same way (Arditi et al. 2024, as the selection reads candidates): the
mean residual (``resid_pre``) at the selected post-instruction position over the direction-building
harmful prompts minus the same mean over the building harmless prompts, at every layer. A cosine near 1
with refusal gone says the representation is intact but no longer read ("bypassed"); a cosine near 0
says it was erased or moved.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from steerbench.forward import capture_residuals

HOOK_POINT = "resid_pre"  # the selection's (steerbench.selection.HOOK_POINT)


def mean_differences(model, harmful: Sequence[str], harmless: Sequence[str], position: int) -> torch.Tensor:
    """[n_layers, d_model]: mean residual of ``harmful`` minus that of ``harmless`` at ``position``
    (a negative offset from the formatted prompt's end), every layer, in float64 then float32."""
    layers = list(range(model.n_layers))

    def mean_read(prompts: Sequence[str]) -> torch.Tensor:
        sequences = [model.encode(model.format_prompt(p)) for p in prompts]
        reads = capture_residuals(model, sequences, [[len(s) + position] for s in sequences], layers, HOOK_POINT)
        return torch.stack([r[0] for r in reads]).double().mean(0)  # [L, d]

    return (mean_read(harmful) - mean_read(harmless)).float()


def layer_cosines(first: torch.Tensor, second: torch.Tensor) -> np.ndarray:
    """Cosine per layer between two [L, d] stacks of directions (NaN where either is zero)."""
    a, b = first.double(), second.double()
    norms = a.norm(dim=1) * b.norm(dim=1)
    cos = (a * b).sum(dim=1) / norms
    return torch.where(norms > 0, cos, torch.full_like(cos, float("nan"))).numpy()
