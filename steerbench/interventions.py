"""Where alpha is applied: residual-stream interventions as TransformerLens hooks.

``add``:    resid += alpha * scale * v_hat          (natural units; ``absolute``: alpha * v_hat)
``ablate``: resid -= alpha * (resid . v_hat) v_hat   (alpha = 1 removes the component entirely;
            alpha > 1 reflects it: alpha = 2 flips the sign of the projection)
``ablate_all``: the same projection at every block's input and on every attention and MLP output
            (Arditi et al. 2024's directional ablation): the direction is removed from the residual
            stream everywhere, equivalent to orthogonalizing the weights that write to it
            (steerbench.orthogonalize, tests/test_orthogonalize.py). The cell's layer names the
            layer the direction was read at, not where it is applied.

Coefficients are per row, so one batch can hold rows of different cells (layer, intervention,
alpha, even different directions). Hooks are global state on the model: ``SteeringHooks`` installs
them only inside its context manager and always removes them, also when the body raises.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch

from steerbench.vocab import ALPHA_UNITS, INTERVENTIONS  # noqa: F401  (re-exported)
from steerbench.vocab import STEER_POSITIONS as POSITIONS  # noqa: F401  (re-exported)


def format_alpha(alpha: float) -> str:
    """``2.0 -> "2"``, ``0.5 -> "0.5"``: the alpha part of a cell id."""
    return f"{float(alpha):g}"


@dataclass(frozen=True, order=True)
class Cell:
    """One point of the grid: a block index, an intervention and its strength."""

    layer: int
    intervention: str  # "add" | "ablate" | "ablate_all" | "baseline" (no hook)
    alpha: float

    @property
    def id(self) -> str:
        if self.intervention == "baseline":
            return "baseline"
        return f"L{self.layer}-{self.intervention}-a{format_alpha(self.alpha)}"


BASELINE = Cell(-1, "baseline", 0.0)
ALL_LAYERS = "*"  # the hook_name of an ablate_all row: every block input and every attention/MLP output


@dataclass(frozen=True, eq=False)
class RowSteer:
    """What one batch row receives: at ``layer``/``hook_point``, add or ablate along ``unit``."""

    layer: int
    hook_point: str  # "resid_pre" | "resid_post"
    kind: str  # "add" | "ablate" | "ablate_all" (layer and hook_point are then only the direction's source)
    unit: torch.Tensor  # [d_model], unit norm (or all zeros for a degenerate direction)
    coef: float  # add: the norm added (alpha*scale or alpha); ablate, ablate_all: alpha
    force: bool = False  # install the hook even at coef 0 (the alpha = 0 sanity check exercises it)

    @property
    def hook_name(self) -> str:
        """The one hook this row needs (ablate_all rows are installed by SteeringHooks on every layer)."""
        return ALL_LAYERS if self.kind == "ablate_all" else f"blocks.{self.layer}.hook_{self.hook_point}"

    @property
    def is_identity(self) -> bool:
        """True when the row needs no hook at all (coef 0, not forced)."""
        return self.coef == 0.0 and not self.force


def row_steer(cell: Cell, unit: torch.Tensor, scale: float, hook_point: str, alpha_units: str = "natural") -> RowSteer | None:
    """The RowSteer a cell gives with a direction (None for the baseline cell)."""
    if cell.intervention == "baseline":
        return None
    if cell.intervention not in INTERVENTIONS:
        raise ValueError(f"unknown intervention '{cell.intervention}' (known: {', '.join(INTERVENTIONS)})")
    if alpha_units not in ALPHA_UNITS:
        raise ValueError(f"unknown alpha units '{alpha_units}' (known: {', '.join(ALPHA_UNITS)})")
    coef = float(cell.alpha)
    if cell.intervention == "add" and alpha_units == "natural":
        coef *= float(scale)
    return RowSteer(cell.layer, hook_point, cell.intervention, unit, coef)


def apply_add(resid: torch.Tensor, vectors: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """resid [B, S, d] + vectors [B, d] at the positions where mask [B, S] is True."""
    shifted = resid + vectors[:, None, :]
    return shifted if mask is None else torch.where(mask[..., None], shifted, resid)


def apply_ablate(resid: torch.Tensor, units: torch.Tensor, coefs: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """resid - coef * (resid . u) u per row, at the positions where mask is True."""
    projection = (resid * units[:, None, :]).sum(-1, keepdim=True)
    ablated = resid - coefs[:, None, None] * projection * units[:, None, :]
    return ablated if mask is None else torch.where(mask[..., None], ablated, resid)


class SteeringHooks:
    """Per-row steering for one batch, installed as bridge hooks inside ``installed()``.

    The generation loop sets ``mask`` ([B, S] bool, or None for every position) before each forward
    pass, which is how "prompt only" / "generated only" positions and left padding are honoured.
    ``ablate_all`` rows add a projection hook on every block's input (bridge hooks) and on the output
    of every module that writes into the residual stream (PyTorch forward hooks on the modules found
    by ``residual_writers``: the bridge's fast path swaps the attention/MLP bridges for the HF modules,
    so their bridge hooks would not fire there).
    """

    def __init__(self, rows: Sequence[RowSteer | None], d_model: int, device: str, dtype: torch.dtype):
        self.mask: torch.Tensor | None = None
        self._per_hook: dict[str, tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]] = {}
        active = [(i, r) for i, r in enumerate(rows) if r is not None and not r.is_identity]
        for name in sorted({r.hook_name for _, r in active}):
            adds = torch.zeros(len(rows), d_model, dtype=dtype)
            units = torch.zeros(len(rows), d_model, dtype=dtype)
            coefs = torch.zeros(len(rows), dtype=dtype)
            has_add = has_ablate = False
            for i, row in active:
                if row.hook_name != name:
                    continue
                if row.kind == "add":
                    adds[i] = row.coef * row.unit.to(dtype)
                    has_add = True
                else:
                    units[i] = row.unit.to(dtype)
                    coefs[i] = row.coef
                    has_ablate = True
            self._per_hook[name] = (
                adds.to(device) if has_add else None,
                units.to(device) if has_ablate else None,
                coefs.to(device) if has_ablate else None,
            )

    @property
    def is_empty(self) -> bool:
        return not self._per_hook

    def _hook_fn(self, name: str):
        adds, units, coefs = self._per_hook[name]

        def hook(resid: torch.Tensor, hook=None) -> torch.Tensor:
            if units is not None:
                resid = apply_ablate(resid, units, coefs, self.mask)
            if adds is not None:
                resid = apply_add(resid, adds, self.mask)
            return resid

        return hook

    def _writer_hook(self):
        _, units, coefs = self._per_hook[ALL_LAYERS]

        def hook(module, inputs, output):
            if isinstance(output, tuple):  # attention modules return (output, weights)
                return (apply_ablate(output[0], units, coefs, self.mask), *output[1:])
            return apply_ablate(output, units, coefs, self.mask)

        return hook

    @contextlib.contextmanager
    def installed(self, bridge) -> Iterator["SteeringHooks"]:
        """Install the hooks on ``bridge``; they are removed on exit, also when the body raises.

        Hooks on the same block input run in name order; an ablate_all projection on a block's input
        runs before a single-layer hook there.
        """
        if self.is_empty:
            yield self
            return
        fwd_hooks = [(name, self._hook_fn(name)) for name in self._per_hook if name != ALL_LAYERS]
        handles = []
        if ALL_LAYERS in self._per_hook:
            layers = decoder_layers(bridge.original_model)
            every_input = self._hook_fn(ALL_LAYERS)
            fwd_hooks = [(f"blocks.{i}.hook_resid_pre", every_input) for i in range(len(layers))] + fwd_hooks
            writer = self._writer_hook()
            handles = [module.register_forward_hook(writer) for layer in layers for module in residual_writers(layer)]
        try:
            with bridge.hooks(fwd_hooks=fwd_hooks):
                yield self
        finally:
            for handle in handles:
                handle.remove()


def decoder_layers(hf_model) -> list:
    """The decoder blocks of an HF causal LM, in order."""
    return list(hf_model.get_decoder().layers)


def residual_writers(layer) -> tuple:
    """The modules of one decoder block whose outputs are added to the residual stream.

    Pre-norm blocks (Llama, Qwen, SmolLM2, GPT-NeoX) add the attention and MLP outputs; Gemma 2/3
    normalise each output again before adding it, so their writers are those post-norms. A bridge
    block is unwrapped to the HF block it runs (the fast path swaps modules inside that one).
    """
    layer = getattr(layer, "_original_component", layer)
    if hasattr(layer, "pre_feedforward_layernorm"):  # Gemma 2/3 sandwich norms
        return layer.post_attention_layernorm, layer.post_feedforward_layernorm
    attention = getattr(layer, "self_attn", None) or getattr(layer, "attention", None)
    if attention is None or not hasattr(layer, "mlp"):
        raise ValueError(f"ablate_all does not know which modules of {type(layer).__name__} write to the residual stream")
    return attention, layer.mlp
