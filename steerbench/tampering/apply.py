"""Run a loaded model with an attack's adapter merged into its weights, then put the weights back.

Merging is peft's: W <- W + (B @ A) * lora_alpha / rank on every adapted linear layer. It is done in
place on the loaded SteerModel (the TransformerLens bridge wraps the same HF modules), so an attacked
checkpoint runs on the study's engine at the base model's speed, with no checkpoint written to disk; the
original weights are copied before and restored exactly after, also when the body raises. A model whose
adapter is all zeros (step 0, or learning rate 0) is bit for bit the original.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Iterator

from steerbench.cache import key_of

_LORA_A, _LORA_B = ".lora_A.default.weight", ".lora_B.default.weight"


def _module_name(peft_name: str) -> str:
    """peft's ``base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight`` ->
    ``model.layers.0.self_attn.q_proj``."""
    name = peft_name.removeprefix("base_model.model.")
    for suffix in (_LORA_A, _LORA_B):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    raise ValueError(f"{peft_name!r} is not a LoRA A/B weight")


def _weights_by_module(hf_model) -> dict:
    """HF module name -> its weight Parameter, the bridge's ``_original_component`` wrappers removed."""
    return {name.replace("._original_component", "").removesuffix(".weight"): param
            for name, param in hf_model.named_parameters() if name.endswith(".weight")}


def deltas(adapter: dict, scaling: float) -> dict:
    """module name -> (B @ A) * scaling, the weight change each adapted linear layer gets."""
    pairs: dict[str, dict[str, object]] = {}
    for name, tensor in adapter.items():
        pairs.setdefault(_module_name(name), {})["A" if name.endswith(_LORA_A) else "B"] = tensor
    missing = [m for m, pair in pairs.items() if set(pair) != {"A", "B"}]
    if missing:
        raise ValueError(f"adapter lacks an A or B matrix for {missing[:3]}")
    return {m: (pair["B"].float() @ pair["A"].float()) * scaling for m, pair in sorted(pairs.items())}


@contextlib.contextmanager
def attacked(model, adapter: dict, *, rank: int, lora_alpha: int, digest: str) -> Iterator[object]:
    """``model`` (a SteerModel) with ``adapter`` merged in, as a SteerModel view whose fingerprints name
    the attacked weights (the study's caches key on them). An empty adapter, or one whose every weight change
    is exactly zero (step 0; learning rate 0: LoRA's B starts at zero), yields ``model`` itself: W + 0 is W
    bit for bit, so its rows are the untampered rows (tests/test_tampering.py checks the merge both ways)."""
    import torch

    changes = deltas(adapter, lora_alpha / rank) if adapter else {}
    if not any(bool(delta.any()) for delta in changes.values()):
        yield model
        return
    weights = _weights_by_module(model.hf_model)
    unknown = [m for m in changes if m not in weights]
    if unknown:
        raise ValueError(f"the adapter's layers {unknown[:3]} are not in {model.name}")
    originals = {m: weights[m].detach().clone() for m in changes}
    try:
        with torch.no_grad():
            for module, delta in changes.items():
                weights[module].add_(delta.to(weights[module].dtype).to(weights[module].device))
        # the weights' identity changes; the cache identity (SteerModel.fingerprint) adds the numerics to it
        attacked_weights = key_of({"attacked": model.weights_fingerprint, "adapter": digest})
        yield dataclasses.replace(model, weights_fingerprint=attacked_weights,
                                  extra={**model.extra, "attack_adapter_sha256": digest})
    finally:
        with torch.no_grad():
            for module, original in originals.items():
                weights[module].copy_(original)
