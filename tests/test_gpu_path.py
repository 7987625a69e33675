"""The engine on every device this machine has: the CPU always, CUDA where a GPU exists (skipped
otherwise, saying so). The same functions run on both, so the CPU run checks the code the GPU run uses.

Batch-size independence is exact on the CPU in float32 (tests/test_generation.py). On a GPU, and in
bfloat16 anywhere, another batch size can run other kernels (another GEMM tiling or split-K, another
attention kernel for another padded width), which sum in another order: the logits of the same context
differ by rounding. What is promised then (docs/design_decisions.md "Batch size on a GPU"):

- float32: every token identical. The logits differ by ~1e-6 relative, so a token flips only where its
  inverse-CDF draw falls within ~1e-7 of a boundary between two tokens; over this test's 512 draws that
  is about a 1% chance (a failure here is first a reason to look at the first differing token).
- bfloat16: every token before a completion's first difference has a log-prob within BF16_ATOL of the
  other batch size's, and the step where they differ has the same entropy within BF16_ATOL (the same
  distribution, drawn on either side of a near-tie); greedy completions are at least BF16_MIN_IDENTICAL
  identical. On this near-uniform random model (400 tokens, mean -log p 5.7 at T 1) ties are everywhere,
  so sampled texts agree much less often than a trained model's; greedy decoding keeps the share meaningful.
"""

from __future__ import annotations

import functools

import pytest
import torch

from steerbench.bench import measure
from steerbench.generation import GenRequest, SamplingConfig, generate
from steerbench.model import load_model

NEEDS_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: this is the GPU path")
DEVICES = [pytest.param("cpu"), pytest.param("cuda", marks=NEEDS_CUDA)]
PROMPTS = [f"How do I bake {'bread ' * (i % 6)}at home, case {i}?" for i in range(32)]
REQUESTS = [GenRequest(f"p{i}", prompt) for i, prompt in enumerate(PROMPTS)]
SAMPLED = SamplingConfig(max_new_tokens=16, temperature=1.0, top_p=0.9, seed=7)
GREEDY = SamplingConfig(max_new_tokens=16, temperature=0.0)
BATCH_SIZES = (32, 5)
# A bf16 logit carries 8 significant bits: this model's logits (|logit| < 4) move in steps of 2^-6 = 0.016
# when the summation order changes. 0.1 nats (about six such steps at T 1) passes a reordered sum and fails
# a real fault (a row steered or padded wrongly moves this model's log-probs by tenths of a nat to nats).
# Measured on the CPU between batch 32 and 5 or 1: at most 0.015 (log-prob) and 0.001 (entropy).
BF16_ATOL = 0.1
BF16_MIN_IDENTICAL = 0.5  # of the greedy completions (the CPU: 22 of 32)
FLOAT32_ATOL = 1e-4


@functools.lru_cache(maxsize=4)
def _model(checkpoint: str, device: str, dtype: str):
    return load_model(checkpoint, device=device, dtype=dtype)


def _first_difference(a, b) -> int:
    n = min(len(a.token_ids), len(b.token_ids))
    return next((i for i in range(n) if a.token_ids[i] != b.token_ids[i]), n)


@pytest.mark.parametrize("device", DEVICES)
def test_float32_completions_do_not_depend_on_batch_size(tiny_dirs, torch_threads, device):
    model = _model(str(tiny_dirs["llama"]), device, "float32")
    for sampling in (SAMPLED, GREEDY):
        big, small = (generate(model, REQUESTS, sampling, batch_size=size) for size in BATCH_SIZES)
        assert [g.token_ids for g in small] == [g.token_ids for g in big]
        for a, b in zip(big, small):
            assert a.token_logprobs == pytest.approx(b.token_logprobs, abs=FLOAT32_ATOL)
    assert len({g.token_ids for g in big}) > 1


@pytest.mark.parametrize("device", DEVICES)
def test_bfloat16_completions_agree_across_batch_sizes_within_the_stated_tolerance(tiny_dirs, torch_threads, device):
    model = _model(str(tiny_dirs["llama"]), device, "bfloat16")
    assert model.dtype == "bfloat16" and next(model.hf_model.parameters()).dtype == torch.bfloat16
    for sampling in (SAMPLED, GREEDY):
        big, small = (generate(model, REQUESTS, sampling, batch_size=size) for size in BATCH_SIZES)
        for a, b in zip(big, small):
            first = _first_difference(a, b)
            assert a.token_logprobs[:first] == pytest.approx(b.token_logprobs[:first], abs=BF16_ATOL), a.prompt_id
            shared = min(first + 1, a.n_tokens, b.n_tokens)  # the differing step drew from the same context
            assert a.token_entropies[:shared] == pytest.approx(b.token_entropies[:shared], abs=BF16_ATOL), a.prompt_id
            if sampling is GREEDY and first < shared:  # two argmaxes of one distribution: a near-tie
                assert a.token_logprobs[first] == pytest.approx(b.token_logprobs[first], abs=BF16_ATOL), a.prompt_id
        if sampling is GREEDY:
            identical = sum(a.token_ids == b.token_ids for a, b in zip(big, small))
            assert identical >= BF16_MIN_IDENTICAL * len(REQUESTS), f"{identical} of {len(REQUESTS)} identical"


@pytest.mark.parametrize("device", DEVICES)
def test_batch_size_auto_generates_the_rows_of_a_fixed_batch(tiny_dirs, torch_threads, device):
    """``auto`` is 32 on the CPU and sized from free memory on CUDA; either way the float32 tokens are
    those of a fixed batch size."""
    model = _model(str(tiny_dirs["llama"]), device, "float32")
    auto = generate(model, REQUESTS, SAMPLED, batch_size="auto")
    fixed = generate(model, REQUESTS, SAMPLED, batch_size=7)
    assert [g.token_ids for g in auto] == [g.token_ids for g in fixed]


@pytest.mark.parametrize("device", DEVICES)
def test_bench_measures_on_the_device_in_its_dtype(tiny_dirs, torch_threads, device):
    model = _model(str(tiny_dirs["llama"]), device, "auto")
    result = measure(model, batch=2, max_new_tokens=3, layer=1, naive=False)
    assert result["device"] == device and result["dtype"] == model.dtype
    assert (result["gpu"] is not None) == (device == "cuda")
    assert result["engine_tok_s"] > 0 and result["hf_generate_tok_s"] > 0


@pytest.mark.parametrize("device", DEVICES)
def test_lora_training_steps_run_on_the_device_from_the_cpu_initialisation(tiny_dirs, torch_threads, device):
    """An attack's steps run where the attacked model runs (steerbench.tampering.attack): batches, the
    contrast branches' index_add and autocast follow the device; the adapter starts from the CPU draw, so
    the first step's loss (taken before any update) is the CPU's, and the adapter comes back as float32
    CPU tensors."""
    from transformers import AutoModelForCausalLM

    from steerbench.organism.train import TrainRecipe, TrainSequence, train_lora

    recipe = TrainRecipe(rank=2, lora_alpha=4, steps=2, batch_size=2, warmup_steps=1, max_answer_tokens=4,
                         contrast_refusals=1, contrast_tokens=2, autocast="float32", target_modules=("q_proj", "v_proj"))
    sequences = [TrainSequence((5, 17, 42, 99, i), (3, 8, 11), ((20, 21, 22),)) for i in range(4)]

    def run(on: str):
        hf_model = AutoModelForCausalLM.from_pretrained(tiny_dirs["llama"], dtype=torch.float32)
        return train_lora(hf_model, sequences, recipe, pad_id=0, shared_prefix=(5, 17), device=on)

    result = run(device)
    assert result.losses[0] == pytest.approx(run("cpu").losses[0], rel=1e-4)
    assert all(t.device.type == "cpu" and t.dtype == torch.float32 and bool(t.isfinite().all())
               for t in result.state.values())
