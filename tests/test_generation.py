"""The generation engine: batch invariance (common random numbers), mixed cells, positions, stats."""

from __future__ import annotations

import math

import pytest
import torch

from steerbench.generation import GenRequest, SamplingConfig, generate, row_uniforms
from steerbench.interventions import Cell, row_steer

PROMPTS = [f"How do I bake {'bread ' * (i % 6)}at home, case {i}?" for i in range(32)]
SAMPLED = SamplingConfig(max_new_tokens=8, temperature=1.0, top_p=0.9, seed=7)
GREEDY = SamplingConfig(max_new_tokens=8, temperature=0.0)


def _unit(model, seed=0):
    vector = torch.randn(model.d_model, generator=torch.Generator().manual_seed(seed))
    return vector / vector.norm()


def _requests(prompts=PROMPTS, steer=None):
    return [GenRequest(f"p{i}", prompt, steer=steer) for i, prompt in enumerate(prompts)]


def _ids(generations):
    return [g.token_ids for g in generations]


def test_completion_does_not_depend_on_batch_size_or_neighbours(tiny_model):
    steer = row_steer(Cell(1, "add", 1.0), _unit(tiny_model), 3.0, "resid_post")
    requests = _requests(steer=steer)
    by_32 = generate(tiny_model, requests, SAMPLED, batch_size=32)
    assert _ids(generate(tiny_model, requests, SAMPLED, batch_size=8)) == _ids(by_32)
    alone = [generate(tiny_model, [r], SAMPLED, batch_size=1)[0] for r in requests[:6:2]]
    assert _ids(alone) == _ids(by_32[:6:2])
    # New neighbours: other prompts (longer ones change the padding), unsteered rows, reversed order.
    neighbours = [GenRequest(f"n{i}", "Write a long poem about the sea " * 3) for i in range(5)]
    shuffled = list(reversed(requests[:4])) + neighbours
    assert _ids(generate(tiny_model, shuffled, SAMPLED, batch_size=9)[:4]) == _ids(reversed(by_32[:4]))
    assert len({g.token_ids for g in by_32}) > 1  # sampling is not degenerate


def test_samples_of_one_prompt_share_a_prefill_exactly(tiny_model):
    """Unsteered samples of the same prompt are prefilled once and copied: every sample is the one
    generated alone (tokens exactly, as for any batch composition; log-probs and prefix scores to
    float32 rounding, which a different batch size already changes)."""
    model = tiny_model
    prompts = PROMPTS[:5]
    requests = [GenRequest(f"p{i}", p, k) for i, p in enumerate(prompts) for k in range(3)]
    prefixes = [model.encode(" I can't")[:2]]
    together = generate(model, requests, SAMPLED, batch_size=len(requests), score_prefixes=prefixes)
    for request_, generation in zip(requests, together):
        alone = generate(model, [request_], SAMPLED, batch_size=1, score_prefixes=prefixes)[0]
        assert (alone.token_ids, alone.text, alone.ended_eos) == (generation.token_ids, generation.text,
                                                                  generation.ended_eos), request_
        for field in ("token_logprobs", "token_entropies", "prefix_logprobs"):
            assert getattr(generation, field) == pytest.approx(getattr(alone, field), abs=1e-4), (request_, field)
    assert len({g.token_ids for g in together[:3]}) > 1  # the samples of one prompt differ


def test_a_batch_mixing_cells_equals_each_cell_alone(tiny_neox):
    unit, other = _unit(tiny_neox, 0), _unit(tiny_neox, 1)
    steers = [
        None,
        row_steer(Cell(1, "add", 1.0), unit, 3.0, "resid_post"),
        row_steer(Cell(2, "ablate", 1.0), unit, 3.0, "resid_post"),
        row_steer(Cell(3, "add", 2.0), other, 3.0, "resid_pre"),
        row_steer(Cell(1, "add", -1.5), other, 3.0, "resid_post"),
    ]
    prompts = PROMPTS[:3]
    mixed = [GenRequest(f"p{i}", p, steer=s) for s in steers for i, p in enumerate(prompts)]
    together = generate(tiny_neox, mixed, SAMPLED, batch_size=len(mixed))
    for k, steer in enumerate(steers):
        alone = generate(tiny_neox, _requests(prompts, steer), SAMPLED)
        assert _ids(alone) == _ids(together[3 * k:3 * k + 3]), f"cell {k} differs when batched"
    assert len({g.token_ids for g in together[::3]}) > 1  # the cells actually steer


def test_alpha_zero_cell_reproduces_the_baseline(tiny_llama):
    zero = row_steer(Cell(2, "add", 0.0), _unit(tiny_llama), 3.0, "resid_post")
    baseline = generate(tiny_llama, _requests(PROMPTS[:4]), SAMPLED)
    steered = generate(tiny_llama, _requests(PROMPTS[:4], zero), SAMPLED)
    assert [(g.token_ids, g.token_logprobs) for g in steered] == [(g.token_ids, g.token_logprobs) for g in baseline]


@pytest.mark.parametrize("positions", ["all", "prompt", "generated"])
def test_positions_steer_only_those_tokens(tiny_neox, positions):
    """Residuals read before (block 1 output) and after (block 2 input) the steering hook."""
    vector_norm = 5.0
    steer = row_steer(Cell(1, "add", 1.0), _unit(tiny_neox), vector_norm, "resid_post")
    before, after = [], []
    capture = [("blocks.1.hook_resid_post", lambda r, hook=None: before.append(r.clone())),
               ("blocks.2.hook_resid_pre", lambda r, hook=None: after.append(r.clone()))]
    requests = _requests(PROMPTS[:3], steer)
    with tiny_neox.bridge.hooks(fwd_hooks=capture):
        generate(tiny_neox, requests, SamplingConfig(max_new_tokens=4, stop_at_eos=False), positions=positions)
    assert len(before) == len(after) == 4  # one prefill, three decode steps
    shifts = [(a - b).norm(dim=-1) for a, b in zip(after, before)]  # [B, S] per forward pass
    lengths = [len(tiny_neox.encode(tiny_neox.format_prompt(p))) for p in PROMPTS[:3]]
    real = torch.zeros_like(shifts[0], dtype=torch.bool)
    for row, n in enumerate(sorted(lengths)):  # the engine sorts rows by prompt length
        real[row, real.shape[1] - n:] = True
    prefill_steered = positions in ("all", "prompt")
    decode_steered = positions in ("all", "generated")
    prompt_shift = shifts[0][real] if positions != "all" else shifts[0]
    assert torch.allclose(prompt_shift, torch.full_like(prompt_shift, vector_norm if prefill_steered else 0.0), atol=1e-4)
    if positions == "prompt":
        assert bool((shifts[0][~real] == 0).all())  # padding is not steered
    for step in shifts[1:]:
        assert torch.allclose(step, torch.full_like(step, vector_norm if decode_steered else 0.0), atol=1e-4)


def test_per_completion_stats_are_consistent(tiny_model):
    generations = generate(tiny_model, _requests(PROMPTS[:6]), SamplingConfig(max_new_tokens=10, temperature=1.5, top_p=1.0))
    eos = set(tiny_model.eos_token_ids)
    max_entropy = math.log(len(tiny_model.tokenizer))
    for g in generations:
        assert len(g.token_ids) == len(g.token_logprobs) == len(g.token_entropies) == g.n_tokens
        assert g.ended_eos == (g.token_ids[-1] in eos)
        assert not eos & set(g.token_ids[:-1])
        assert all(lp <= 0 for lp in g.token_logprobs)
        assert all(0 <= h <= max_entropy + 1e-4 for h in g.token_entropies)
        assert g.text == tiny_model.tokenizer.decode(list(g.token_ids[:-1] if g.ended_eos else g.token_ids),
                                                     skip_special_tokens=True)


def test_each_row_stops_at_its_own_eos(tiny_neox, monkeypatch):
    requests = _requests(PROMPTS[:6])
    free = generate(tiny_neox, requests, SamplingConfig(max_new_tokens=10, temperature=0.0))
    stop_token = free[0].token_ids[3]
    monkeypatch.setattr(tiny_neox.hf_model.generation_config, "eos_token_id", stop_token)
    stopped = generate(tiny_neox, requests, SamplingConfig(max_new_tokens=10, temperature=0.0))
    for before, after in zip(free, stopped):
        n = before.token_ids.index(stop_token) + 1 if stop_token in before.token_ids else 10
        assert after.token_ids == before.token_ids[:n] and after.n_tokens == n
        assert after.ended_eos == (stop_token in before.token_ids)
    assert stopped[0].n_tokens <= 4 and stopped[0].ended_eos
    assert any(g.n_tokens == 10 for g in stopped)  # the others kept going
    ignoring = generate(tiny_neox, requests, SamplingConfig(max_new_tokens=10, temperature=0.0, stop_at_eos=False))
    assert _ids(ignoring) == _ids(free)


def test_temperature_zero_is_greedy_and_deterministic(tiny_llama):
    requests = _requests(PROMPTS[:4])
    first = generate(tiny_llama, requests, GREEDY)
    assert _ids(generate(tiny_llama, requests, SamplingConfig(max_new_tokens=8, temperature=0.0, seed=99))) == _ids(first)
    encoded = tiny_llama.encode(tiny_llama.format_prompt(PROMPTS[0]))
    with torch.inference_mode():
        logits = tiny_llama.hf_model(input_ids=torch.tensor([encoded])).logits[0, -1]
    assert first[0].token_ids[0] == int(logits.argmax())


def test_row_uniforms_depend_only_on_seed_prompt_and_sample():
    base = row_uniforms(0, "harm_test_0001", 0, 16)
    assert torch.equal(base, row_uniforms(0, "harm_test_0001", 0, 16))
    assert torch.equal(base[:5], row_uniforms(0, "harm_test_0001", 0, 5))  # max_new_tokens does not matter
    for other in [row_uniforms(1, "harm_test_0001", 0, 16), row_uniforms(0, "harm_test_0002", 0, 16),
                  row_uniforms(0, "harm_test_0001", 1, 16)]:
        assert not torch.equal(base, other)
    assert bool(((base >= 0) & (base < 1)).all())


def test_sample_index_and_seed_change_the_sample(tiny_neox):
    request = GenRequest("p0", PROMPTS[0])
    repeat = GenRequest("p0", PROMPTS[0], sample_index=1)
    a, b = generate(tiny_neox, [request, repeat], SAMPLED)
    assert a.token_ids != b.token_ids
    reseeded = generate(tiny_neox, [request], SamplingConfig(max_new_tokens=8, temperature=1.0, seed=8))[0]
    assert reseeded.token_ids != a.token_ids
    with pytest.raises(ValueError, match="positions"):
        generate(tiny_neox, [request], SAMPLED, positions="middle")


def test_teacher_forced_logprobs_match_the_kv_cached_generation(tiny_model):
    """A full forward (forward.continuation_logprobs) must score each token as generation drew it."""
    from steerbench.forward import continuation_logprobs

    steer = row_steer(Cell(2, "add", 1.0), _unit(tiny_model), 3.0, "resid_post")
    requests = _requests(PROMPTS[:4], None) + _requests(PROMPTS[4:8], steer)
    greedy = generate(tiny_model, requests, SamplingConfig(max_new_tokens=6, temperature=0.0, stop_at_eos=False))
    contexts = [tiny_model.encode(tiny_model.format_prompt(r.prompt)) for r in requests]
    n_scored = [i % 7 for i in range(len(greedy))]  # ragged continuations, an empty one included
    scored = continuation_logprobs(tiny_model, contexts, [g.token_ids[:n] for g, n in zip(greedy, n_scored)],
                                   [r.steer for r in requests], batch_size=3)
    for generation, logprobs, n in zip(greedy, scored, n_scored):
        expected = torch.tensor(generation.token_logprobs[:n], dtype=torch.float64)
        assert len(logprobs) == n and torch.allclose(torch.tensor(logprobs), expected, atol=1e-4)


def test_sampling_follows_the_nucleus_distribution():
    """Evenly spread uniforms must pick each kept token in proportion to its renormalised probability."""
    from steerbench.generation import sample_tokens

    logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0, -3.0])
    n = 4000
    uniforms = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    tokens, logprobs, entropies = sample_tokens(logits.expand(n, -1), uniforms, temperature=0.8, top_p=0.9)
    probs = torch.softmax(logits / 0.8, dim=-1)
    kept = (probs.cumsum(-1) - probs) < 0.9  # already sorted descending
    expected = torch.where(kept, probs, torch.zeros_like(probs)) / probs[kept].sum()
    counts = torch.bincount(tokens, minlength=len(logits)).double() / n
    assert torch.allclose(counts, expected.double(), atol=2 / n)
    assert torch.allclose(logprobs, torch.log(probs)[tokens], atol=1e-6)
    assert torch.allclose(entropies, -(probs * probs.log()).sum().expand(n), atol=1e-5)


def test_a_row_samples_the_same_whether_or_not_a_neighbour_needs_the_full_sort(monkeypatch):
    from steerbench import generation

    monkeypatch.setattr(generation, "CANDIDATE_TIERS", (4,))  # then the full sort
    peaked = torch.log(torch.tensor([0.4, 0.3, 0.15, 0.1] + [0.05 / 46] * 46))  # top 4 hold 0.95
    flat = torch.randn(50, generator=torch.Generator().manual_seed(1)) * 0.1  # top 4 hold ~0.1
    uniforms = (torch.arange(20, dtype=torch.float64) + 0.5) / 20
    alone, *_ = generation.sample_tokens(peaked.expand(20, -1), uniforms, 1.0, 0.9)
    together, *_ = generation.sample_tokens(torch.cat([peaked.expand(20, -1), flat.expand(20, -1)]),
                                            torch.cat([uniforms, uniforms]), 1.0, 0.9)
    assert torch.equal(alone, together[:20]) and set(alone.tolist()) == {0, 1, 2, 3}
