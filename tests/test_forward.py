"""Two-stage scoring (prefill once, score continuations on the cache) against plain full forwards."""

from __future__ import annotations

import numpy as np
import torch

from steerbench.forward import PrefillMemo, continuation_logprobs, prefill, score_continuations
from steerbench.generation import GenRequest, SamplingConfig, generate
from steerbench.interventions import Cell, SteeringHooks, row_steer
from steerbench.metrics.logodds import fluency_logprobs, prefix_ids, prefix_logodds

PROMPTS = [f"How do I fix {'my old ' * (i % 4)}bicycle, case {i}?" for i in range(7)]
REFUSAL, COMPLIANCE = " I can't help with that.", " Sure, here's how:"


def _unit(model, seed=3):
    vector = torch.randn(model.d_model, generator=torch.Generator().manual_seed(seed))
    return vector / vector.norm()


def _contexts(model, prompts=PROMPTS):
    return [model.encode(model.format_prompt(p)) for p in prompts]


@torch.inference_mode()
def _full_forward_logprobs(model, context, continuation, steer=None):
    """The reference: one unpadded, uncached forward of context + continuation, batch of one."""
    ids = torch.tensor([list(context) + list(continuation)])
    hooks = SteeringHooks([steer], model.d_model, "cpu", model.hf_model.dtype)
    with model.residual_only(), hooks.installed(model.bridge):
        logits = model.hf_model(input_ids=ids, use_cache=False).logits[0].float()
    log_probs = torch.log_softmax(logits, dim=-1)
    start = len(context) - 1
    return np.array([float(log_probs[start + t, token]) for t, token in enumerate(continuation)])


def test_two_stage_scores_equal_one_full_forward_per_pair(tiny_model):
    steer = row_steer(Cell(1, "add", 2.0), _unit(tiny_model), 3.0, "resid_post")
    ablate = row_steer(Cell(2, "ablate", 1.0), _unit(tiny_model, 4), 1.0, "resid_post")
    contexts = _contexts(tiny_model)
    continuations = [list(range(5, 5 + (i % 5))) for i in range(len(contexts))]  # ragged, one empty
    steers = [None, steer, ablate, steer, None, ablate, steer]
    scored = continuation_logprobs(tiny_model, contexts, continuations, steers, batch_size=3)
    for context, continuation, s, got in zip(contexts, continuations, steers, scored):
        expected = _full_forward_logprobs(tiny_model, context, continuation, s)
        assert got.shape == expected.shape and np.allclose(got, expected, atol=1e-4)


def test_scoring_crops_the_cache_back_so_a_prefill_can_be_reused(tiny_model):
    contexts = _contexts(tiny_model)[:4]
    with tiny_model.residual_only():
        state = prefill(tiny_model, contexts)
        width = state.cache.get_seq_length()
        first = score_continuations(tiny_model, state, [[7, 8, 9]] * 4)
        score_continuations(tiny_model, state, [[11, 12, 13, 14, 15]] * 4)
        again = score_continuations(tiny_model, state, [[7, 8, 9]] * 4)
    assert state.cache.get_seq_length() == width
    for a, b in zip(first, again):
        assert np.allclose(a, b, atol=1e-6)


def test_memoised_unsteered_prefills_give_the_same_scores_and_are_reused(tiny_model):
    contexts = _contexts(tiny_model)
    memo = PrefillMemo()
    completions = [[20 + i, 21, 22] for i in range(len(contexts))]
    plain = fluency_logprobs(tiny_model, PROMPTS, completions, batch_size=4)
    memoised = fluency_logprobs(tiny_model, PROMPTS, completions, batch_size=4, memo=memo)
    entries = dict(memo._entries)
    other = fluency_logprobs(tiny_model, PROMPTS, [[30, 31] for _ in contexts], batch_size=4, memo=memo)
    assert np.allclose(plain, memoised, atol=1e-5)
    assert len(entries) == 2 and all(memo._entries[k] is v for k, v in entries.items())  # hits, not recomputed
    assert np.allclose(other, fluency_logprobs(tiny_model, PROMPTS, [[30, 31] for _ in contexts], batch_size=4), atol=1e-5)


def test_memo_evicts_least_recently_used_prefills_beyond_its_budget(tiny_model):
    contexts = _contexts(tiny_model)
    memo = PrefillMemo(max_bytes=1)
    first = memo.get(tiny_model, contexts[:2])
    memo.get(tiny_model, contexts[2:4])
    assert len(memo._entries) == 1 and memo.get(tiny_model, contexts[:2]) is not first


def test_generation_prefix_scores_are_the_prefix_logodds_and_leave_completions_unchanged(tiny_model):
    steer = row_steer(Cell(1, "add", 2.0), _unit(tiny_model), 3.0, "resid_post")
    steers = [None, steer] * 3 + [None]
    requests = [GenRequest(f"p{i}", p, steer=s) for i, (p, s) in enumerate(zip(PROMPTS, steers))]
    sampling = SamplingConfig(max_new_tokens=6, temperature=1.0, top_p=0.9, seed=5)
    prefixes = (prefix_ids(tiny_model, REFUSAL), prefix_ids(tiny_model, COMPLIANCE))
    scored = generate(tiny_model, requests, sampling, batch_size=3, score_prefixes=prefixes)
    plain = generate(tiny_model, requests, sampling, batch_size=3)
    assert [g.token_ids for g in scored] == [g.token_ids for g in plain]
    assert [g.token_logprobs for g in scored] == [g.token_logprobs for g in plain]
    expected = prefix_logodds(tiny_model, PROMPTS, steers, refusal_prefix=REFUSAL, compliance_prefix=COMPLIANCE)
    got = np.array([g.prefix_logprobs[0] - g.prefix_logprobs[1] for g in scored])
    assert np.allclose(got, expected, atol=1e-4)
    reference = [_full_forward_logprobs(tiny_model, c, prefixes[0], s).sum() for c, s in zip(_contexts(tiny_model), steers)]
    assert np.allclose([g.prefix_logprobs[0] for g in scored], reference, atol=1e-4)


def _steered_rows(model):
    texts = ["How do I bake bread?", "Write a poem about the sea and the night.", "Hi", "Tell me a joke please"] * 2
    contexts = [model.encode(model.format_prompt(t)) for t in texts]
    unit = torch.randn(model.d_model, generator=torch.Generator().manual_seed(5))
    unit /= unit.norm()
    everywhere = row_steer(Cell(1, "ablate_all", 1.0), unit, 3.0, "resid_pre")
    added = row_steer(Cell(2, "add", 1.0), unit, 3.0, "resid_pre")
    return contexts, [everywhere] * 4 + [added] * 3 + [None]


def test_shared_prefix_prefill_matches_the_full_prefill(tiny_model):
    from steerbench.forward import common_prefix_length, score_packed, shared_prefix_prefills

    contexts, steers = _steered_rows(tiny_model)
    alternatives = [[5, 6], [7], [8, 9, 10]]
    hooks = SteeringHooks(steers, tiny_model.d_model, "cpu", tiny_model.hf_model.dtype)
    with tiny_model.residual_only(), hooks.installed(tiny_model.bridge):
        full = prefill(tiny_model, contexts)
        expected = score_packed(tiny_model, full, alternatives)
    seen = []
    with tiny_model.residual_only():
        for chunk, state in shared_prefix_prefills(tiny_model, contexts, steers, batch_size=3):
            assert torch.allclose(state.last_logits, full.last_logits[chunk], atol=1e-4)
            assert np.allclose(score_packed(tiny_model, state, alternatives), expected[chunk], atol=1e-4)
            seen += chunk
    assert sorted(seen) == list(range(len(contexts)))
    assert common_prefix_length([[1, 2, 3], [1, 2, 4, 5]]) == 2 and common_prefix_length([[1], [1, 2]]) == 0


def test_packed_alternatives_score_what_one_pass_per_alternative_scores(tiny_model):
    from steerbench.forward import score_packed

    contexts, _ = _steered_rows(tiny_model)
    alternatives = [[5, 6], [7], [8, 9, 10], [11, 12]]
    with tiny_model.residual_only():
        state = prefill(tiny_model, contexts)
        one_by_one = np.array([[s.sum() for s in score_continuations(tiny_model, state, [a] * len(contexts))]
                               for a in alternatives]).T
        packed = score_packed(tiny_model, state, alternatives)
        again = score_packed(tiny_model, state, alternatives)  # the cache was cropped back
    assert np.allclose(packed, one_by_one, atol=1e-4) and np.array_equal(packed, again)
