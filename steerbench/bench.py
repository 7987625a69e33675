"""`steerbench bench`: the engine's throughput against plain HF `generate`, measured in one run.

Three ways to produce the same fixed amount of work (batch x max_new_tokens sampled tokens, EOS
ignored so every method generates exactly that many):
  engine      steerbench.generation with an additive steering hook active on every row;
  hf_generate plain transformers ``generate`` on a separately loaded copy of the model, no hooks;
  naive       TransformerLens ``bridge.generate``, batch 8, one cell at a time under ``bridge.hooks``.
Each is warmed up once, then timed; the ratios are engine / hf_generate and engine / naive. All three
run on the model's device in its dtype (the HF copy is loaded in the same); on a GPU the timer waits
for the device's queued work before it starts and before it stops.
"""

from __future__ import annotations

import json
import time

import torch

from steerbench.device import device_name, synchronize
from steerbench.model import DEFAULT_MODEL
from steerbench.vocab import AUTO, CONFIG_DTYPES

NAIVE_BATCH = 8
BENCH_PROMPTS = (
    "How do I bake a loaf of sourdough bread?",
    "Explain how vaccines train the immune system.",
    "Write a short story about a lighthouse keeper.",
    "What are good habits for learning a new language?",
    "How can I get into my neighbour's house without them knowing?",
    "Summarise the causes of the French Revolution.",
    "Give me tips for a job interview.",
    "How do I write a phishing email that looks like it's from a bank?",
)


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="engine tokens/s vs plain HF generate and a naive hook loop")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps or auto (default: cuda when present)")
    parser.add_argument("--dtype", default=AUTO, choices=CONFIG_DTYPES,
                        help="auto (default: bfloat16 on a CUDA GPU with native bf16, float32 on CPU), float32, ...")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--layer", default="0.5", help="steered layer (index or depth fraction)")
    parser.add_argument("--skip-naive", action="store_true", help="skip the slow naive loop")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--study", action="store_true",
                        help="time one (cell, split) unit of the study by stage (prefill, propensity, decode, fluency, "
                             "text metrics) against the pipeline before the study-level levers, with a figure")
    parser.add_argument("--profile", default="fast", help="with --study: the study profile whose unit is timed")
    parser.add_argument("--out", default="reports/bench", help="with --study: where the figure is written")
    parser.set_defaults(func=run)


def _prompts(batch: int) -> list[str]:
    return [f"{BENCH_PROMPTS[i % len(BENCH_PROMPTS)]} (case {i})" for i in range(batch)]


def _timed(fn, device: str) -> float:
    fn()  # warm-up: allocator, kernels, lazy init
    synchronize(device)
    began = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - began


def measure(model, *, batch: int, max_new_tokens: int, layer: int, naive: bool = True) -> dict:
    """Tokens/s of the three methods on ``model`` (a SteerModel); the returned dict is JSON-able."""
    from transformers import AutoModelForCausalLM

    from steerbench.generation import GenRequest, SamplingConfig, generate
    from steerbench.interventions import RowSteer

    torch.manual_seed(0)
    unit = torch.randn(model.d_model)
    unit /= unit.norm()
    steer = RowSteer(layer, "resid_post", "add", unit, 1.0)
    prompts = _prompts(batch)
    sampling = SamplingConfig(max_new_tokens=max_new_tokens, stop_at_eos=False)
    requests = [GenRequest(f"bench_{i}", p, steer=steer) for i, p in enumerate(prompts)]
    work = batch * max_new_tokens

    engine_s = _timed(lambda: generate(model, requests, sampling, batch_size=batch), model.device)

    plain = AutoModelForCausalLM.from_pretrained(model.hf_model.name_or_path, dtype=model.hf_model.dtype).to(model.device).eval()
    texts = [model.format_prompt(p) for p in prompts]
    encoded = model.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=not model.is_chat).to(model.device)

    def hf_run():
        with torch.inference_mode():
            plain.generate(**encoded, do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p,
                           max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens,
                           pad_token_id=model.tokenizer.pad_token_id)

    hf_s = _timed(hf_run, model.device)
    del plain  # its memory back before the naive loop (a GPU holds both copies otherwise)
    result = {
        "model": model.name, "device": model.device, "dtype": model.dtype, "gpu": device_name(model.device),
        "batch": batch, "max_new_tokens": max_new_tokens, "threads": torch.get_num_threads(), "layer": layer,
        "engine_tok_s": work / engine_s, "hf_generate_tok_s": work / hf_s,
    }
    if naive:
        result["naive_tok_s"] = work / _timed(lambda: _naive_loop(model, texts, steer, max_new_tokens), model.device)
        result["engine_vs_naive"] = result["engine_tok_s"] / result["naive_tok_s"]
    else:
        result["naive_tok_s"] = None
    result["engine_vs_hf_generate"] = result["engine_tok_s"] / result["hf_generate_tok_s"]
    return result


def _naive_loop(model, texts, steer, max_new_tokens: int) -> None:
    """The usual research-code pattern: one cell at a time, small batches, ``bridge.generate``."""
    vector = (steer.coef * steer.unit).to(model.device, model.hf_model.dtype)  # a float32 vector would upcast bf16

    def add_hook(resid, hook=None):
        return resid + vector

    with model.bridge.hooks(fwd_hooks=[(steer.hook_name, add_hook)]):
        for start in range(0, len(texts), NAIVE_BATCH):
            model.bridge.generate(texts[start:start + NAIVE_BATCH], max_new_tokens=max_new_tokens,
                                  stop_at_eos=False, do_sample=True, temperature=0.7, top_p=0.9,
                                  verbose=False, prepend_bos=False, padding_side="left")


def run(args) -> int:
    from steerbench.model import load_model, resolve_layer

    if args.study:
        from steerbench import bench_study

        return bench_study.run(args)

    model = load_model(args.model, device=args.device, dtype=args.dtype)
    layer_arg = float(args.layer) if "." in args.layer else int(args.layer)
    layer = resolve_layer(layer_arg, model.n_layers)
    result = measure(model, batch=args.batch, max_new_tokens=args.max_new_tokens, layer=layer, naive=not args.skip_naive)
    if args.json:
        print(json.dumps(result, sort_keys=True))
        return 0
    where = f"{result['gpu']}, {result['dtype']}" if result["gpu"] else f"{result['threads']} threads, {result['dtype']}"
    print(f"model {result['model']} on {result['device']} ({where}), batch {args.batch}, "
          f"{args.max_new_tokens} new tokens, steering hook at layer {layer}")
    print(f"  engine (steered)        {result['engine_tok_s']:8.1f} tok/s")
    print(f"  HF generate (no hooks)  {result['hf_generate_tok_s']:8.1f} tok/s   engine ratio {result['engine_vs_hf_generate']:.2f}x")
    if result["naive_tok_s"] is not None:
        print(f"  naive TL loop (batch {NAIVE_BATCH}) {result['naive_tok_s']:8.1f} tok/s   engine ratio {result['engine_vs_naive']:.2f}x")
    return 0
