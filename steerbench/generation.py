"""Batched, steered sampling with a KV cache and common random numbers (DESIGN.md decisions 7-8).

Every row draws its sampling noise from its own generator seeded by (seed, prompt id, sample index):
a completion therefore depends on the prompt, the seed and the intervention only, never on the batch
size, the neighbours in the batch or the worker. Tokens are drawn by inverse-CDF sampling from the
top-p-filtered, temperature-scaled distribution with one uniform number per step per row.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from steerbench.device import batch_size_for, device_type
from steerbench.forward import Prefill, left_pad, score_continuations
from steerbench.interventions import POSITIONS, RowSteer, SteeringHooks
from steerbench.vocab import AUTO


@dataclass(frozen=True)
class SamplingConfig:
    """How to sample: temperature 0 means greedy."""

    max_new_tokens: int = 80
    temperature: float = 0.7
    top_p: float = 0.9
    seed: int = 0
    stop_at_eos: bool = True  # False: always max_new_tokens per row (fixed-work benchmarks)


@dataclass(frozen=True)
class GenRequest:
    """One completion to produce: a raw user prompt (formatted by the model) and its steering."""

    prompt_id: str
    prompt: str
    sample_index: int = 0
    steer: RowSteer | None = None


@dataclass(frozen=True)
class Generation:
    """One completion and the statistics of the distribution each token was drawn from.

    ``token_logprobs`` and ``token_entropies`` are under the temperature-scaled distribution
    before top-p truncation (natural log), one per generated token (the EOS token included).
    """

    prompt_id: str
    sample_index: int
    text: str
    token_ids: tuple[int, ...]
    n_tokens: int
    token_logprobs: tuple[float, ...]
    token_entropies: tuple[float, ...]
    ended_eos: bool
    prefix_logprobs: tuple[float, ...] = ()  # summed log p of each ``score_prefixes`` entry after the prompt


def row_seed(seed: int, prompt_id: str, sample_index: int) -> int:
    """The seed of one row's noise stream: a hash of (seed, prompt id, sample index) only."""
    digest = hashlib.sha256(f"{seed}|{prompt_id}|{sample_index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def row_uniforms(seed: int, prompt_id: str, sample_index: int, n: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(row_seed(seed, prompt_id, sample_index))
    return torch.rand(n, generator=generator, dtype=torch.float64)


CANDIDATE_TIERS = (256, 4096)  # then the whole vocabulary


def _nucleus_pick(probs: torch.Tensor, uniforms: torch.Tensor, top_p: float, k: int | None) -> torch.Tensor:
    """Inverse-CDF draw from the top-p nucleus of each row, looking at the top ``k`` tokens only."""
    if k is None or k >= probs.shape[-1]:
        sorted_probs, sorted_ids = probs.sort(dim=-1, descending=True, stable=True)
    else:
        sorted_probs, sorted_ids = probs.topk(k, dim=-1)
    cumulative = sorted_probs.cumsum(dim=-1)
    keep = (cumulative - sorted_probs) < top_p  # the first token is always kept
    kept = torch.where(keep, sorted_probs, torch.zeros_like(sorted_probs)).double()
    kept_cumulative = kept.cumsum(dim=-1)
    targets = uniforms.to(kept.device)[:, None] * kept_cumulative[:, -1:]
    index = (kept_cumulative <= targets).sum(dim=-1, keepdim=True)
    index = torch.minimum(index, keep.sum(dim=-1, keepdim=True) - 1)
    return sorted_ids.gather(-1, index).squeeze(-1)


def _top_p_sample(probs: torch.Tensor, uniforms: torch.Tensor, top_p: float) -> torch.Tensor:
    """Top-p sampling that sorts only as much of the vocabulary as each row's nucleus needs.

    A full-vocabulary sort costs ~40x a top-k on CPU. Each row is drawn from the smallest tier
    (top 256, top 4096, everything) whose candidates cover ``top_p`` of that row's mass; the tier is
    decided per row, so a completion never depends on what its batch neighbours need.
    """
    tokens = torch.empty(probs.shape[0], dtype=torch.long, device=probs.device)
    pending = torch.arange(probs.shape[0], device=probs.device)
    for k in (*CANDIDATE_TIERS, None):
        if len(pending) == 0:
            break
        rows = probs[pending]
        if k is not None and k < probs.shape[-1]:
            covered = rows.topk(k, dim=-1).values.sum(dim=-1) >= top_p
        else:
            covered = torch.ones(len(pending), dtype=torch.bool, device=probs.device)
        if bool(covered.any()):
            chosen = pending[covered]
            tokens[chosen] = _nucleus_pick(probs[chosen], uniforms[chosen.cpu()], top_p, k)
        pending = pending[~covered]
    return tokens


def sample_tokens(logits: torch.Tensor, uniforms: torch.Tensor, temperature: float, top_p: float):
    """Draw one token per row; return (tokens, logprobs, entropies) of the sampling distribution."""
    logits = logits.float()
    if temperature <= 0:
        log_probs = torch.log_softmax(logits, dim=-1)
        tokens = logits.argmax(dim=-1)
    else:
        log_probs = torch.log_softmax(logits / temperature, dim=-1)
        tokens = _top_p_sample(log_probs.exp(), uniforms, top_p)
    entropies = -(log_probs.exp() * log_probs).nan_to_num().sum(dim=-1)
    chosen = log_probs.gather(-1, tokens[:, None]).squeeze(-1)
    return tokens, chosen, entropies


def generate(
    model,
    requests: Sequence[GenRequest],
    sampling: SamplingConfig = SamplingConfig(),
    *,
    batch_size: int | str = 32,
    positions: str = "all",
    score_prefixes: Sequence[Sequence[int]] = (),
    on_batch: Callable[[int, int, float], None] | None = None,
) -> list[Generation]:
    """Sample one completion per request, steered per row; results in request order.

    Args:
        model: a ``SteerModel``.
        requests: prompts with their ids, sample indices and steering.
        sampling: temperature, top-p, max new tokens and the seed.
        batch_size: rows per forward pass, or ``auto`` (steerbench.device.batch_size_for: 32 off CUDA, sized
            from free memory on CUDA). It changes no completion on the CPU; on a GPU, within a dtype, see
            docs/design_decisions.md "Batch size on a GPU" for the tolerance.
        positions: where steering applies: ``all``, ``prompt`` (prompt tokens only) or ``generated``.
        score_prefixes: token lists scored teacher-forced right after each prompt, on the sampling
            prefill and under the same steering (prefix tokens count as generated positions): the
            refusal log-odds at the cost of the prefix tokens only.
        on_batch: progress callback (rows done, rows total, generated tokens per second).
    """
    if positions not in POSITIONS:
        raise ValueError(f"positions must be one of {', '.join(POSITIONS)}, not '{positions}'")
    encoded = [model.encode(model.format_prompt(r.prompt)) for r in requests]
    if batch_size == AUTO:
        longest = max((len(e) for e in encoded), default=0) + sampling.max_new_tokens
        batch_size = batch_size_for(AUTO, model, longest, max((len(p) for p in score_prefixes), default=1))
        _report_auto_batch(model, batch_size, longest)
    # Sorting by length keeps padding small; the completions do not depend on the grouping.
    order = sorted(range(len(requests)), key=lambda i: (len(encoded[i]), i))
    results: list[Generation | None] = [None] * len(requests)
    done = 0
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        began = time.perf_counter()
        batch = _generate_batch(model, [requests[i] for i in chunk], [encoded[i] for i in chunk], sampling, positions,
                                score_prefixes)
        for i, generation in zip(chunk, batch):
            results[i] = generation
        done += len(chunk)
        if on_batch is not None:
            tokens = sum(g.n_tokens for g in batch)
            on_batch(done, len(order), tokens / max(time.perf_counter() - began, 1e-9))
    return results  # type: ignore[return-value]


_last_auto_batch: dict[str, int] = {}  # device -> the auto batch size last reported (one line per change)


def _report_auto_batch(model, batch_size: int, tokens: int) -> None:
    """A progress line when ``auto`` picks a batch size on a GPU other than the one it picked last."""
    if device_type(model.device) != "cuda" or _last_auto_batch.get(model.device) == batch_size:
        return
    from steerbench.progress import report

    _last_auto_batch[model.device] = batch_size
    report(f"generation batch size auto: {batch_size} rows on {model.device} ({model.dtype}, {tokens} tokens a row)")


@torch.inference_mode()
def _generate_batch(model, requests, encoded, sampling: SamplingConfig, positions: str,
                    score_prefixes: Sequence[Sequence[int]] = ()) -> list[Generation]:
    device = model.device
    batch = len(requests)
    pad_id = model.tokenizer.pad_token_id
    eos_ids = torch.tensor(model.eos_token_ids, device=device)
    uniforms = torch.stack([
        row_uniforms(sampling.seed, r.prompt_id, r.sample_index, sampling.max_new_tokens) for r in requests
    ])
    input_ids, attention, position_ids = left_pad(encoded, pad_id, device)
    hooks = SteeringHooks([r.steer for r in requests], model.d_model, device, model.hf_model.dtype)
    prefill_mask = None if positions == "all" else attention.bool() & (positions == "prompt")
    decode_mask = None if positions != "prompt" else torch.zeros((batch, 1), dtype=torch.bool, device=device)
    # the per-step outputs stay on the model's device and are copied once, after the loop (on a GPU a copy
    # per step would wait for every step's kernels)
    tokens_out = torch.zeros((batch, sampling.max_new_tokens), dtype=torch.long, device=device)
    logprobs_out = torch.zeros((batch, sampling.max_new_tokens), device=device)
    entropies_out = torch.zeros((batch, sampling.max_new_tokens), device=device)
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    lengths = torch.full((batch,), sampling.max_new_tokens, dtype=torch.long, device=device)
    cache = None
    step_ids = input_ids
    # Unsteered rows of the same prompt (several samples of it) share one prefill: the prompt's keys,
    # values and last logits are computed once and copied to each sample's row. Exact, because a row's
    # prefill does not depend on its batch neighbours (the contract above).
    expand = _shared_prefill_rows(encoded) if hooks.is_empty else None
    with model.residual_only(), hooks.installed(model.bridge):
        for step in range(sampling.max_new_tokens):
            hooks.mask = prefill_mask if step == 0 else decode_mask
            if step == 0 and expand is not None:
                unique, index = (t.to(device) for t in expand)
                output = model.hf_model(
                    input_ids=step_ids[unique], attention_mask=attention[unique], position_ids=position_ids[unique],
                    use_cache=True, logits_to_keep=1,
                )
                output.past_key_values.reorder_cache(index)
                output.logits = output.logits.index_select(0, index)
            else:
                output = model.hf_model(
                    input_ids=step_ids, attention_mask=attention, position_ids=position_ids,
                    past_key_values=cache, use_cache=True, logits_to_keep=1,
                )
            cache = output.past_key_values
            if step == 0 and score_prefixes:
                prefix_scores = _score_prefixes(model, Prefill.from_output(output, attention, position_ids),
                                                score_prefixes, hooks, positions)
            tokens, logprobs, entropies = sample_tokens(
                output.logits[:, -1, :], uniforms[:, step], sampling.temperature, sampling.top_p
            )
            tokens = torch.where(finished, torch.full_like(tokens, pad_id), tokens)
            tokens_out[:, step] = tokens
            logprobs_out[:, step] = logprobs
            entropies_out[:, step] = entropies
            newly_done = ~finished & torch.isin(tokens, eos_ids) & sampling.stop_at_eos
            lengths.masked_fill_(newly_done, step + 1)
            finished |= newly_done
            if bool(finished.all()):
                break
            step_ids = tokens[:, None]
            attention = torch.cat([attention, torch.ones((batch, 1), dtype=attention.dtype, device=device)], dim=1)
            position_ids = position_ids[:, -1:] + 1
    tokens_out, logprobs_out, entropies_out, lengths, finished_cpu = (
        t.cpu() for t in (tokens_out, logprobs_out, entropies_out, lengths, finished))
    generations = []
    for row, request in enumerate(requests):
        n = int(lengths[row])
        ids = tuple(int(t) for t in tokens_out[row, :n])
        ended = bool(finished_cpu[row])
        text_ids = ids[:-1] if ended else ids
        generations.append(Generation(
            prompt_id=request.prompt_id,
            sample_index=request.sample_index,
            text=model.tokenizer.decode(list(text_ids), skip_special_tokens=True),
            token_ids=ids,
            n_tokens=n,
            token_logprobs=tuple(float(x) for x in logprobs_out[row, :n]),
            token_entropies=tuple(float(x) for x in entropies_out[row, :n]),
            ended_eos=ended,
            prefix_logprobs=tuple(float(scores[row]) for scores in prefix_scores) if score_prefixes else (),
        ))
    return generations


def _shared_prefill_rows(encoded) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(rows to prefill, for each row the index of its prefill among them), or None when every
    prompt of the batch is distinct."""
    first: dict[tuple[int, ...], int] = {}
    unique: list[int] = []
    index: list[int] = []
    for row, ids in enumerate(encoded):
        key = tuple(ids)
        if key not in first:
            first[key] = len(unique)
            unique.append(row)
        index.append(first[key])
    if len(unique) == len(encoded):
        return None
    return torch.tensor(unique, dtype=torch.long), torch.tensor(index, dtype=torch.long)


def _score_prefixes(model, state: Prefill, prefixes, hooks: SteeringHooks, positions: str) -> list[list[float]]:
    """Summed log-probs of each shared prefix after every row's prompt; the cache is left as it was."""
    batch = state.attention.shape[0]
    scores = []
    for prefix in prefixes:
        if positions == "prompt":  # prefix tokens are generated positions: not steered
            hooks.mask = torch.zeros((batch, max(len(prefix) - 1, 1)), dtype=torch.bool, device=state.attention.device)
        else:
            hooks.mask = None
        scores.append([float(s.sum()) for s in score_continuations(model, state, [list(prefix)] * batch)])
    return scores
