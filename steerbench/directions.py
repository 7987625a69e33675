"""Refusal directions: built from contrasts in the residual stream, saved as safetensors + JSON.

Methods (DESIGN.md decision 4):
  contrastive_prefix  p + refusal_prefix vs p + compliance_prefix, read at the prefix tokens;
  diff_in_means       harmful vs benign prompts at the last prompt token (Arditi et al. 2024);
  outcome_conditioned refused vs complied baseline completions, mean over the completion tokens;
  random              a seeded random unit vector with the scale of a reference direction (control).
A direction's natural ``scale`` is the norm of the mean contrast: alpha = 1 adds one mean contrast.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import torch

from steerbench.cache import atomic_write, seal
from steerbench.errors import ConfigError
from steerbench.forward import capture_residuals

from steerbench.vocab import DIRECTION_METHODS as METHODS
from steerbench.vocab import HOOK_POINTS, PREFIX_POSITIONS  # noqa: F401  (re-exported)
REFUSAL_PREFIX = " I can't help with that."
COMPLIANCE_PREFIX = " Sure, here's how:"
DEGENERATE_NORM = 1e-6  # a mean contrast smaller than this has no direction worth normalising
STABILITY_CHUNK = 16  # prompts per chunk for the across-batch cosine


@dataclass(frozen=True)
class DirectionStats:
    """How trustworthy a direction is: contrast size and agreement between disjoint halves/batches."""

    n_prompts: int
    mean_prompt_norm: float  # mean over prompts of the per-prompt contrast norm
    split_half_cosine: float  # cosine between the mean contrasts of even- and odd-indexed prompts
    batch_cosine: float  # mean cosine of each chunk's mean contrast with the overall mean
    degenerate: bool  # the mean contrast is ~0: unit is all zeros, steering adds nothing


@dataclass(frozen=True, eq=False)
class Direction:
    """A unit vector in the residual stream at one layer, with its natural scale and provenance."""

    unit: torch.Tensor  # [d_model] float32, unit norm (zeros when degenerate)
    scale: float
    layer: int
    hook_point: str
    method: str
    position: str
    stats: DirectionStats
    provenance: dict = field(default_factory=dict)  # model fingerprint, prompts hash, prefixes, seed

    def cosine(self, other: "Direction") -> float:
        return float(torch.dot(self.unit, other.unit))


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    denominator = float(a.norm() * b.norm())
    return float(torch.dot(a, b)) / denominator if denominator > 0 else float("nan")


def direction_from_contrasts(contrasts: torch.Tensor, **meta) -> Direction:
    """Build a Direction from per-prompt contrast vectors [n, d] (mean = the direction)."""
    mean = contrasts.mean(dim=0)
    scale = float(mean.norm())
    degenerate = not math.isfinite(scale) or scale < DEGENERATE_NORM
    unit = torch.zeros_like(mean) if degenerate else mean / scale
    chunks = [contrasts[i:i + STABILITY_CHUNK].mean(0) for i in range(0, len(contrasts), STABILITY_CHUNK)]
    stats = DirectionStats(
        n_prompts=len(contrasts),
        mean_prompt_norm=float(contrasts.norm(dim=-1).mean()),
        split_half_cosine=_cos(contrasts[0::2].mean(0), contrasts[1::2].mean(0)) if len(contrasts) > 1 else float("nan"),
        batch_cosine=sum(_cos(c, mean) for c in chunks) / len(chunks) if len(chunks) > 1 else float("nan"),
        degenerate=degenerate,
    )
    return Direction(unit=unit.float(), scale=0.0 if degenerate else scale, stats=stats, **meta)


def check_method(method: str, position: str, hook_point: str) -> None:
    """Reject impossible combinations with an explanation (DESIGN.md decision 4)."""
    if method not in METHODS:
        raise ConfigError(f"direction method '{method}' is unknown; use one of {', '.join(METHODS)}")
    if hook_point not in HOOK_POINTS:
        raise ConfigError(f"hook point '{hook_point}' is unknown; use resid_pre or resid_post")
    if method == "contrastive_prefix" and position not in PREFIX_POSITIONS:
        if position == "last_prompt_token":
            raise ConfigError(
                "position 'last_prompt_token' cannot be used with contrastive_prefix: the two runs "
                "(prompt + refusal prefix, prompt + compliance prefix) are identical up to the last "
                "prompt token because causal attention cannot see the prefix that follows, so the "
                "contrast there is exactly zero; read it at the prefix tokens (prefix_mean, "
                "prefix_first, prefix_last) or use method diff_in_means"
            )
        raise ConfigError(f"position '{position}' is unknown; use one of {', '.join(PREFIX_POSITIONS)}")


def _prefix_reads(model, prompts: Sequence[str], prefix: str, position: str, layers, hook_point) -> torch.Tensor:
    """[n, L, d]: the residual at the prefix tokens of prompt + prefix, reduced by ``position``."""
    prefix_ids = model.tokenizer(prefix, add_special_tokens=False)["input_ids"]
    contexts = [model.encode(model.format_prompt(p)) for p in prompts]
    sequences = [c + list(prefix_ids) for c in contexts]
    spans = [list(range(len(c), len(c) + len(prefix_ids))) for c in contexts]
    picks = {"prefix_mean": spans, "prefix_first": [s[:1] for s in spans], "prefix_last": [s[-1:] for s in spans]}[position]
    reads = capture_residuals(model, sequences, picks, layers, hook_point)
    return torch.stack([r.mean(dim=0) for r in reads])


def _last_token_reads(model, prompts: Sequence[str], layers, hook_point) -> torch.Tensor:
    sequences = [model.encode(model.format_prompt(p)) for p in prompts]
    reads = capture_residuals(model, sequences, [[len(s) - 1] for s in sequences], layers, hook_point)
    return torch.stack([r[0] for r in reads])


def build_directions(
    model,
    prompts: Sequence[str],
    layers: Sequence[int],
    *,
    method: str = "contrastive_prefix",
    position: str = "prefix_mean",
    hook_point: str = "resid_post",
    refusal_prefix: str = REFUSAL_PREFIX,
    compliance_prefix: str = COMPLIANCE_PREFIX,
    benign_prompts: Sequence[str] = (),
    completions: Sequence[str] = (),
    refused: Sequence[bool] = (),
    provenance: dict | None = None,
) -> dict[int, Direction]:
    """Build one direction per layer (block indices, already resolved) in a single pass per input.

    ``prompts`` are the harmful prompts (all methods); ``benign_prompts`` are needed by
    diff_in_means; ``completions`` and ``refused`` (one per prompt) by outcome_conditioned.
    """
    check_method(method, position if method == "contrastive_prefix" else "prefix_mean", hook_point)
    if method == "random":
        raise ConfigError("method 'random' needs a reference direction: use random_direction(reference, seed)")
    layers = list(layers)
    if method == "contrastive_prefix":
        refusal = _prefix_reads(model, prompts, refusal_prefix, position, layers, hook_point)
        compliance = _prefix_reads(model, prompts, compliance_prefix, position, layers, hook_point)
        contrasts = refusal - compliance
        extra = {"refusal_prefix": refusal_prefix, "compliance_prefix": compliance_prefix}
    elif method == "diff_in_means":
        if not benign_prompts:
            raise ConfigError("method diff_in_means needs benign prompts to contrast with")
        contrasts = _last_token_reads(model, prompts, layers, hook_point) - _last_token_reads(model, benign_prompts, layers, hook_point).mean(0)
        position, extra = "last_prompt_token", {"n_benign": len(benign_prompts)}
    else:
        contrasts, extra = _outcome_contrasts(model, prompts, completions, refused, layers, hook_point)
        position = "completion_mean"
    base = {"model": model.name, "model_fingerprint": model.fingerprint, "n_prompts": len(prompts), **extra, **(provenance or {})}
    return {
        layer: direction_from_contrasts(contrasts[:, j], layer=layer, hook_point=hook_point, method=method,
                                        position=position, provenance=dict(base))
        for j, layer in enumerate(layers)
    }


def _outcome_contrasts(model, prompts, completions, refused, layers, hook_point):
    if not (len(prompts) == len(completions) == len(refused)):
        raise ConfigError("outcome_conditioned needs one completion and one refused flag per prompt")
    n_refused = sum(bool(r) for r in refused)
    if n_refused == 0 or n_refused == len(refused):
        raise ConfigError(
            f"outcome_conditioned needs both refused and complied baseline completions; got {n_refused} "
            f"refused of {len(refused)}: use more prompts or another method"
        )
    sequences, spans = [], []
    for prompt, completion in zip(prompts, completions):
        context = model.encode(model.format_prompt(prompt))
        tail = model.tokenizer(completion, add_special_tokens=False)["input_ids"] or [model.tokenizer.eos_token_id]
        sequences.append(context + list(tail))
        spans.append(list(range(len(context), len(context) + len(tail))))
    reads = torch.stack([r.mean(0) for r in capture_residuals(model, sequences, spans, layers, hook_point)])
    mask = torch.tensor([bool(r) for r in refused])
    return reads[mask] - reads[~mask].mean(0), {"n_refused": n_refused, "n_complied": len(refused) - n_refused}


def random_direction(reference: Direction, seed: int) -> Direction:
    """A norm-matched control: a seeded random unit vector with the reference's scale and layer."""
    generator = torch.Generator().manual_seed(seed)
    unit = torch.randn(reference.unit.shape[0], generator=generator)
    unit /= unit.norm()
    return Direction(unit=unit, scale=reference.scale, layer=reference.layer, hook_point=reference.hook_point,
                     method="random", position="none", stats=reference.stats,
                     provenance={**reference.provenance, "seed": seed, "reference_method": reference.method})


def save_direction(direction: Direction, stem: Path) -> None:
    """Write ``stem.safetensors`` (the unit vector) and ``stem.json`` (everything else)."""
    from safetensors.torch import save_file

    meta = {k: v for k, v in asdict(direction).items() if k not in ("unit", "stats")}
    meta["stats"] = asdict(direction.stats)
    atomic_write(stem.with_suffix(".safetensors"), lambda p: save_file({"unit": direction.unit.contiguous()}, str(p)))
    atomic_write(stem.with_suffix(".json"), lambda p: p.write_text(json.dumps(meta, indent=2, sort_keys=True)))
    seal(stem.with_suffix(".json"), [stem.with_suffix(".json"), stem.with_suffix(".safetensors")])


def load_direction(stem: Path) -> Direction:
    """Read a saved direction (safetensors + JSON: nothing is unpickled)."""
    from safetensors.torch import load_file

    meta = json.loads(stem.with_suffix(".json").read_text())
    unit = load_file(str(stem.with_suffix(".safetensors")))["unit"]
    return Direction(unit=unit, stats=DirectionStats(**meta.pop("stats")), **meta)
