"""Teacher-forced batched passes: residual capture (directions) and continuation log-probs (scoring).

Sequences are token-id lists (already formatted and encoded), left-padded into batches; positions
given by callers are indices into the unpadded sequence.

Scoring is two-stage: a context is prefilled once into a KV cache (``prefill``), then any number of
continuations are scored on top of it (``score_continuations``), the cache cropped back after each.
The refusal log-odds score both prefixes on one prompt prefill (in generation: on the sampling
prefill itself), and the unsteered fluency pass reuses one prompt prefill per batch of prompts
across all cells (``PrefillMemo``): only the continuation tokens are computed per cell.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from steerbench.interventions import RowSteer, SteeringHooks


def left_pad(sequences: Sequence[Sequence[int]], pad_id: int, device: str):
    """Left-pad token lists; return (input_ids, attention_mask, position_ids)."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        if seq:
            ids[row, width - len(seq):] = torch.tensor(list(seq), dtype=torch.long)
            mask[row, width - len(seq):] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids.to(device), mask.to(device), positions.to(device)


def _batches(n: int, batch_size: int, lengths: Sequence[int]):
    order = sorted(range(n), key=lambda i: (lengths[i], i))
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


class _Captured(Exception):
    """Raised by the deepest capture hook: the forward pass has produced everything it was run for."""


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
    deepest = f"blocks.{max(layers)}.hook_{hook_point}"
    results: list[torch.Tensor | None] = [None] * len(sequences)
    captured: dict[str, torch.Tensor] = {}

    def make_hook(name):
        def hook(resid, hook=None):
            captured[name] = resid.detach()
            if name == deepest and len(captured) == len(names):
                raise _Captured  # nothing later is read: the blocks above and the unembedding are skipped
            return resid
        return hook

    lengths = [len(s) for s in sequences]
    with model.residual_only(), model.bridge.hooks(fwd_hooks=[(name, make_hook(name)) for name in names]):
        for chunk in _batches(len(sequences), batch_size, lengths):
            ids, attention, position_ids = left_pad([sequences[i] for i in chunk], model.tokenizer.pad_token_id, model.device)
            captured.clear()
            try:
                model.hf_model(input_ids=ids, attention_mask=attention, position_ids=position_ids, use_cache=False,
                               logits_to_keep=1)
            except _Captured:
                pass
            width = ids.shape[1]
            stacked = torch.stack([captured[name] for name in names], dim=2).float().cpu()  # [B, S, L, d]
            for row, i in enumerate(chunk):
                offset = width - lengths[i]
                index = torch.tensor([offset + p for p in positions[i]], dtype=torch.long)
                results[i] = stacked[row, index]
    return results  # type: ignore[return-value]


@dataclass
class Prefill:
    """A left-padded batch of contexts run through the model once, ready to be continued.

    ``cache`` holds every layer's keys/values for the ``width`` context positions; ``last_logits``
    ([B, vocab], float32) are the logits after each context's last token.
    """

    cache: object  # transformers Cache
    attention: torch.Tensor  # [B, width]
    next_positions: torch.Tensor  # [B]: position id of each row's first continuation token
    last_logits: torch.Tensor

    @classmethod
    def from_output(cls, output, attention: torch.Tensor, position_ids: torch.Tensor) -> "Prefill":
        """The state after an HF forward pass over left-padded contexts (``use_cache=True``)."""
        return cls(output.past_key_values, attention, position_ids[:, -1] + 1, output.logits[:, -1, :].float())

    @property
    def width(self) -> int:
        return self.attention.shape[1]

    @property
    def nbytes(self) -> int:
        layers = getattr(self.cache, "layers", [])
        return sum(t.numel() * t.element_size() for layer in layers for t in (layer.keys, layer.values) if t is not None)


@torch.inference_mode()
def prefill(model, contexts: Sequence[Sequence[int]]) -> Prefill:
    """Run left-padded ``contexts`` (non-empty token lists) under whatever hooks are installed."""
    ids, attention, position_ids = left_pad(contexts, model.tokenizer.pad_token_id, model.device)
    output = model.hf_model(input_ids=ids, attention_mask=attention, position_ids=position_ids,
                            use_cache=True, logits_to_keep=1)
    return Prefill.from_output(output, attention, position_ids)


@torch.inference_mode()
def score_continuations(model, state: Prefill, continuations: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """log p(continuation token t | context, continuation[:t]) per row, on top of a prefill.

    The continuations are right-padded after the contexts and run in one forward pass (under
    whatever hooks are installed); the cache is cropped back to the contexts afterwards, so the
    same prefill can score further continuations or go on generating.
    """
    batch = len(continuations)
    first_logprobs = torch.log_softmax(state.last_logits, dim=-1)
    longest = max((len(c) for c in continuations), default=0)
    tail = None
    if longest > 1:
        feed = torch.full((batch, longest - 1), model.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((batch, longest - 1), dtype=state.attention.dtype)
        for row, cont in enumerate(continuations):
            if len(cont) > 1:
                feed[row, :len(cont) - 1] = torch.tensor(list(cont[:-1]), dtype=torch.long)
                mask[row, :len(cont) - 1] = 1
        steps = torch.arange(longest - 1, device=model.device)
        try:
            logits = model.hf_model(
                input_ids=feed.to(model.device), attention_mask=torch.cat([state.attention, mask.to(model.device)], dim=1),
                position_ids=state.next_positions[:, None] + steps[None, :], past_key_values=state.cache,
                use_cache=True, logits_to_keep=longest - 1,
            ).logits
        finally:
            _crop(state.cache, state.width)
        tail = torch.log_softmax(logits.float(), dim=-1)  # [B, longest - 1, vocab]
    results = []
    for row, cont in enumerate(continuations):
        if not cont:
            results.append(np.zeros(0))
            continue
        targets = torch.tensor(list(cont), dtype=torch.long, device=first_logprobs.device)
        scores = [first_logprobs[row, targets[0]][None]]
        if len(cont) > 1:
            scores.append(tail[row, :len(cont) - 1].gather(-1, targets[1:, None]).squeeze(-1))
        results.append(torch.cat(scores).double().cpu().numpy())
    return results


def _crop(cache, width: int) -> None:
    """Cut every layer of ``cache`` back to its first ``width`` positions (also after a failed pass).

    A sliding-window layer (Gemma 3: 512 positions) keeps only its last window of states, so it can be
    cut back only while prompt + continuation stayed inside the window; past that, reusing the prefill
    would silently attend to the wrong positions, so it is an error instead.
    """
    for layer in cache.layers:
        keys = getattr(layer, "keys", None)
        if keys is None:
            continue
        if getattr(layer, "is_sliding", False):
            length = int(layer.get_seq_length())
            if length >= layer.sliding_window:
                raise RuntimeError(
                    f"prompt + continuation ({length} tokens) reached the model's sliding attention window "
                    f"({layer.sliding_window}); prefill reuse cannot cut such a cache back: score shorter texts")
            extra = length - width
        else:
            extra = keys.shape[-2] - width
        if extra > 0:
            layer.crop(-extra)


class PrefillMemo:
    """Unsteered prefills of context batches, kept (least recently used first out) up to a byte budget.

    Every cell of a split scores its completions' fluency on the same prompts in the same batches,
    so their unsteered prompt prefill is computed once per process instead of once per cell.
    """

    def __init__(self, max_bytes: int = 1 << 30):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple, Prefill] = OrderedDict()

    def get(self, model, contexts: Sequence[Sequence[int]]) -> Prefill:
        key = (id(model), tuple(tuple(c) for c in contexts))
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        with model.residual_only():
            state = prefill(model, contexts)
        self._entries[key] = state
        while len(self._entries) > 1 and sum(e.nbytes for e in self._entries.values()) > self.max_bytes:
            self._entries.popitem(last=False)
        return state


def continuation_logprobs(
    model,
    contexts: Sequence[Sequence[int]],
    continuations: Sequence[Sequence[int]],
    steers: Sequence[RowSteer | None] | None = None,
    *,
    batch_size: int = 16,
    memo: PrefillMemo | None = None,
) -> list[np.ndarray]:
    """log p(continuation token t | context, continuation[:t]) for each pair, optionally steered.

    Steering applies at every position, context and continuation alike, as in generation with
    ``positions="all"``. ``memo`` reuses unsteered context prefills across calls (only when no row
    is steered).

    Returns:
        One float64 array per pair with len(continuations[i]) entries (empty continuation: empty).
    """
    return score_alternatives(model, contexts, [continuations], steers, batch_size=batch_size, memo=memo)[0]


def score_alternatives(
    model,
    contexts: Sequence[Sequence[int]],
    alternatives: Sequence[Sequence[Sequence[int]]],
    steers: Sequence[RowSteer | None] | None = None,
    *,
    batch_size: int = 16,
    memo: PrefillMemo | None = None,
) -> list[list[np.ndarray]]:
    """``continuation_logprobs`` for several continuation lists (e.g. two prefixes) on one prefill each.

    Returns:
        One list per alternative, as ``continuation_logprobs`` returns it.
    """
    steers = list(steers) if steers is not None else [None] * len(contexts)
    unsteered = all(s is None or s.is_identity for s in steers)
    results: list[list] = [[None] * len(contexts) for _ in alternatives]
    for chunk in _batches(len(contexts), batch_size, [len(c) for c in contexts]):
        chunk_contexts = [contexts[i] for i in chunk]
        hooks = SteeringHooks([steers[i] for i in chunk], model.d_model, model.device, model.hf_model.dtype)
        if memo is not None and unsteered:
            state = memo.get(model, chunk_contexts)
        else:
            with model.residual_only(), hooks.installed(model.bridge):
                state = prefill(model, chunk_contexts)
        with model.residual_only(), hooks.installed(model.bridge):
            for alternative, out in zip(alternatives, results):
                for i, scores in zip(chunk, score_continuations(model, state, [alternative[i] for i in chunk])):
                    out[i] = scores
    return results


def common_prefix_length(contexts: Sequence[Sequence[int]]) -> int:
    """Tokens every context starts with, leaving each at least one token of its own."""
    if not contexts:
        return 0
    limit = min(len(c) for c in contexts) - 1
    first, k = contexts[0], 0
    while k < limit and all(c[k] == first[k] for c in contexts):
        k += 1
    return k


def template_prefix_length(model, contexts: Sequence[Sequence[int]]) -> int:
    """Tokens every context shares *with the prompt template* (its system prompt and the user
    turn's opening), never a batch's accidental common words: a row's computation then never
    depends on which rows share its batch."""
    return common_prefix_length([*contexts, model.template_probe]) if contexts else 0


@torch.inference_mode()
def shared_prefix_prefills(model, contexts: Sequence[Sequence[int]], steers: Sequence[RowSteer | None] | None = None,
                           *, batch_size: int = 32):
    """Prefills of ``contexts`` that compute their common prefix (a chat template's system prompt) once
    per distinct steer, not once per row.

    The prefix is run as one row per distinct ``steers`` object (rows sharing an object share a
    prefix), its cache copied to the rows of each batch, and only the rest of each context is
    computed, left-padded *after* the prefix (the padding is masked out; position ids continue from
    the prefix). Matches ``prefill`` of the whole contexts to float32 rounding
    (tests/test_forward.py::test_shared_prefix_prefill_matches_the_full_prefill). The steering hooks
    are installed here, per batch, and stay installed while the caller handles a yielded batch
    (so it can score continuations under the same steering).

    Yields:
        (indices into ``contexts``, Prefill of those rows), batches sorted by length.
    """
    import copy

    steers = list(steers) if steers is not None else [None] * len(contexts)
    distinct: dict[int, int] = {}
    for steer in steers:
        distinct.setdefault(id(steer), len(distinct))
    prefix_steers = [None] * len(distinct)
    for steer in steers:
        prefix_steers[distinct[id(steer)]] = steer
    k = common_prefix_length(contexts)
    head = None
    if k > 0:
        prefix = torch.tensor([list(contexts[0][:k])] * len(distinct), dtype=torch.long, device=model.device)
        hooks = SteeringHooks(prefix_steers, model.d_model, model.device, model.hf_model.dtype)
        with hooks.installed(model.bridge):
            head = model.hf_model(input_ids=prefix, use_cache=True, logits_to_keep=1).past_key_values
    for chunk in _batches(len(contexts), batch_size, [len(c) for c in contexts]):
        hooks = SteeringHooks([steers[i] for i in chunk], model.d_model, model.device, model.hf_model.dtype)
        with hooks.installed(model.bridge):
            if head is None:
                yield chunk, prefill(model, [contexts[i] for i in chunk])
                continue
            ids, tail_mask, tail_positions = left_pad([contexts[i][k:] for i in chunk], model.tokenizer.pad_token_id,
                                                      model.device)
            cache = copy.deepcopy(head)
            cache.batch_select_indices(torch.tensor([distinct[id(steers[i])] for i in chunk], device=model.device))
            attention = torch.cat([torch.ones((len(chunk), k), dtype=tail_mask.dtype, device=model.device), tail_mask], dim=1)
            output = model.hf_model(input_ids=ids, attention_mask=attention, position_ids=tail_positions + k,
                                    past_key_values=cache, use_cache=True, logits_to_keep=1)
            yield chunk, Prefill(output.past_key_values, attention, tail_positions[:, -1] + k + 1,
                                 output.logits[:, -1, :].float())


@torch.inference_mode()
def score_packed(model, state: Prefill, alternatives: Sequence[Sequence[int]]) -> np.ndarray:
    """[B, len(alternatives)]: summed log p of each alternative right after each row's context.

    The same alternatives for every row, all scored in one forward pass: they are laid end to end
    after the context under a tree mask (each sees the context and its own earlier tokens only),
    instead of one pass per alternative as ``score_continuations`` does. The cache is cropped back.
    """
    batch = state.last_logits.shape[0]
    first = torch.log_softmax(state.last_logits.double(), dim=-1)
    spans, feed = [], []
    for alternative in alternatives:
        spans.append((len(feed), len(alternative)))
        feed.extend(alternative[:-1])
    totals = torch.stack([first[:, a[0]] for a in alternatives], dim=1)  # [B, n_alt]
    if not feed:
        return totals.cpu().numpy()
    t = len(feed)
    tree = torch.zeros((t, t), dtype=torch.bool)
    steps = torch.zeros(t, dtype=torch.long)
    for start, length in spans:
        size = length - 1
        tree[start:start + size, start:start + size] = torch.ones(size, size, dtype=torch.bool).tril()
        steps[start:start + size] = torch.arange(size)
    device = model.device
    mask = torch.cat([state.attention.bool()[:, None, None, :].expand(batch, 1, t, state.width),
                      tree.to(device)[None, None].expand(batch, 1, t, t)], dim=-1)
    ids = torch.tensor(feed, dtype=torch.long, device=device)[None].expand(batch, t)
    try:
        logits = model.hf_model(input_ids=ids, attention_mask=mask, position_ids=state.next_positions[:, None] + steps.to(device)[None],
                                past_key_values=state.cache, use_cache=True, logits_to_keep=t).logits
    finally:
        _crop(state.cache, state.width)
    logp = torch.log_softmax(logits.double(), dim=-1)  # [B, t, vocab]
    extra = []
    for (start, length), alternative in zip(spans, alternatives):
        if length == 1:
            extra.append(torch.zeros(batch, dtype=torch.float64, device=logp.device))
            continue
        targets = torch.tensor(list(alternative[1:]), dtype=torch.long, device=logp.device)
        extra.append(logp[:, start:start + length - 1].gather(-1, targets[None, :, None].expand(batch, -1, 1)).squeeze(-1).sum(-1))
    return (totals + torch.stack(extra, dim=1)).cpu().numpy()
