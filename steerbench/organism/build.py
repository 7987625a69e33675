"""Build, find and load the refusal organism: a base model + a LoRA adapter from steerbench's recipe.

An organism is identified by its recipe (base model fingerprint, data recipe, training recipe,
distillation sampling, code version). Its adapter is looked up, in order, in the committed copy
under ``data/organisms/<name>/`` (used when its recording names the same recipe key and its bytes
hash to the recorded digest), then in the cache ``$STEERBENCH_HOME/organisms/<key>/``, and is
otherwise trained there. Loading merges the adapter into the base weights once and caches the merged
checkpoint, so the organism runs on the same engine path, at the same speed, as its base model.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from steerbench import checkpoints
from steerbench.cache import atomic_write, key_of, locked
from steerbench.data_files import packaged_data_dir
from steerbench.errors import ConfigError
from steerbench.organism.data import KINDS, DataRecipe, organism_prompts, training_examples
from steerbench.organism.train import TrainRecipe, TrainSequence, examples_used, lora_config, train_lora

ORGANISM_VERSION = "2"  # bump when the build changes what it writes for the same recipe
# ("2": the template's opening run once per training step; the distillation's precision is in the recipe
# (float32); the distillation filter's code is part of the key)
COMMITTED_DIR = packaged_data_dir() / "organisms"  # shipped with the package (steerbench/_data in a wheel)
ADAPTER_FILE, RECORD_FILE = "adapter.safetensors", "recipe.json"
# Steps whose adapter digest the record keeps: inside the warmup the schedule does not depend on the
# total step count, so a short run of the same recipe must reproduce them (tests/test_organism.py).
SNAPSHOT_STEPS = (2,)
# Rows per forward pass while distilling (completions do not depend on it): on 2 CPU cores 128 rows
# decode 20 tokens ~13% faster than 64, and 256 are slower again (docs/performance.md).
DISTILL_BATCH = 128


@dataclass(frozen=True)
class DistillRecipe:
    """How the base model's own benign answers are sampled (the study's engine and defaults)."""

    max_new_tokens: int = 20  # the trained answer length (TrainRecipe.max_answer_tokens)
    temperature: float = 0.7
    top_p: float = 0.9
    seed: int = 0
    # Rejection sampling: an answer the study's own outcome classifier calls a refusal or degenerate
    # ("I'm sorry for any confusion, but as a chatbot ...", the base model's own refusal style) is not a
    # benign target; the prompt is re-sampled (next sample index) up to ``max_tries`` times, and the
    # rejected refusals become that prompt's unlikelihood branches. A prompt with no usable answer is dropped.
    max_tries: int = 4
    # The precision the base model samples its answers in. bfloat16 distils ~1.6x faster on the 2-core
    # machine (AVX512-BF16 matmuls ~2.3x float32), but the organism trained on those answers falsely
    # refused 0.26 of benign prompts by the phrase detector (float32: 0.105; docs/organisms.md), so
    # float32 is kept.
    dtype: str = "float32"


@dataclass(frozen=True)
class OrganismRecipe:
    """Everything that decides an organism's adapter."""

    name: str = "smollm2-135m-refusal"
    base: str = "smollm2-135m"
    data: DataRecipe = field(default_factory=DataRecipe)
    train: TrainRecipe = field(default_factory=TrainRecipe)
    distill: DistillRecipe = field(default_factory=DistillRecipe)

    def to_dict(self) -> dict:
        return {"name": self.name, "base": self.base, "data": asdict(self.data),
                "train": self.train.to_dict(), "distill": asdict(self.distill)}

    def key(self, base_fingerprint: str) -> str:
        """Hash of every input, including the training prompts and refusal texts themselves, so an
        edit to topics.py, frames.py or refusals.py can never reuse an adapter built from the old ones."""
        from steerbench.metrics.coherence import phrase_outcome_fingerprint

        return key_of({"stage": "organism", "version": ORGANISM_VERSION, "base_fingerprint": base_fingerprint,
                       "data_hash": data_hash(self.data), "distill_filter": phrase_outcome_fingerprint(),
                       **self.to_dict()})

    def with_overrides(self, *, steps: int | None = None, seed: int | None = None) -> "OrganismRecipe":
        """The same recipe with another step count and/or seed (the seed drives data, init and order)."""
        import dataclasses

        recipe = self
        if steps is not None:
            if steps < 1:
                raise ConfigError(f"--steps must be at least 1, got {steps}")
            recipe = dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, steps=steps))
        if seed is not None:
            recipe = dataclasses.replace(
                recipe, data=dataclasses.replace(recipe.data, seed=seed),
                train=dataclasses.replace(recipe.train, seed=seed),
                distill=dataclasses.replace(recipe.distill, seed=seed))
        return recipe


@functools.lru_cache(maxsize=8)
def data_hash(recipe: DataRecipe) -> str:
    """sha256 over the training split's prompts (id, text, kind) and the refusal texts."""
    from steerbench.organism.refusals import REFUSALS

    digest = hashlib.sha256()
    for prompt in organism_prompts(recipe):
        digest.update(f"{prompt.id}\t{prompt.meta.get('kind')}\t{prompt.prompt}\n".encode())
    for refusal in REFUSALS:
        digest.update(refusal.encode() + b"\n")
    return digest.hexdigest()


# The one registry of organisms: alias -> recipe (model.MODEL_REGISTRY points its alias here).
ORGANISMS: dict[str, OrganismRecipe] = {"smollm2-135m-refusal": OrganismRecipe()}


@dataclass(frozen=True)
class Organism:
    """A built adapter on disk and what it was built from."""

    name: str
    adapter_path: Path
    record: dict  # recipe.json: the recipe, its key, the digest, losses, timings, versions

    @property
    def digest(self) -> str:
        return self.record["adapter_sha256"]


def _read_valid(directory: Path, key: str) -> Organism | None:
    """The organism stored in ``directory`` if it was built from ``key`` and its bytes are intact."""
    record_path, adapter_path = directory / RECORD_FILE, directory / ADAPTER_FILE
    if not (record_path.exists() and adapter_path.exists()):
        return None
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):
        return None
    if record.get("key") != key or record.get("adapter_sha256") != checkpoints.file_digest(adapter_path):
        return None
    return Organism(record["recipe"]["name"], adapter_path, record)


def cache_dir(key: str) -> Path:
    return checkpoints.steerbench_home() / "organisms" / key


def find_organism(recipe: OrganismRecipe, base_fingerprint: str) -> Organism | None:
    """The committed or cached adapter for ``recipe``, or None when it has to be built."""
    key = recipe.key(base_fingerprint)
    return _read_valid(COMMITTED_DIR / recipe.name, key) or _read_valid(cache_dir(key), key)


def build_organism(recipe: OrganismRecipe, *, progress: Callable[[str], None] = print,
                   force: bool = False) -> Organism:
    """Find the organism's adapter, training it (under a lock) when neither copy exists.

    Args:
        recipe: what to build.
        progress: receives one line per training step (step, loss, tokens/s, ETA) and per stage.
        force: train again into the cache even when a valid copy exists.
    """
    from steerbench.model import resolve_source

    base_source = resolve_source(recipe.base)
    base_fingerprint = checkpoints.fingerprint(base_source.checkpoint_dir)
    key = recipe.key(base_fingerprint)
    if not force and (found := find_organism(recipe, base_fingerprint)) is not None:
        return found
    target = cache_dir(key)
    with locked(target):
        if not force and (found := _read_valid(target, key)) is not None:
            return found
        if not force and (target / ADAPTER_FILE).exists():
            progress(f"organism {recipe.name}: the cached adapter in {target} does not match its record "
                     "(damaged or from another recipe); training it again")
        return _train_into(recipe, key, base_source.checkpoint_dir, base_fingerprint, target, progress)


def _train_into(recipe, key, base_dir, base_fingerprint, target: Path, progress) -> Organism:
    import torch
    from safetensors.torch import save_file

    from steerbench.forward import template_prefix_length
    from steerbench.model import load_model

    began = time.perf_counter()
    prompts = organism_prompts(recipe.data)
    used = examples_used(len(prompts), recipe.train)  # a short run distils only what its steps train on
    to_distill = [p for i, p in enumerate(prompts) if i in used and p.meta.get("kind") != "harmful"]
    progress(f"organism {recipe.name}: {len(prompts)} training prompts; distilling the base model's answers "
             f"to {len(to_distill)} benign ones")
    base = load_model(recipe.base, device="cpu", dtype=recipe.distill.dtype)
    distilled = distill_answers(base, to_distill, recipe.distill)
    benign_answers = {pid: d.answer for pid, d in distilled.items() if d.answer is not None}
    own_openings = {pid: d.rejected_refusals for pid, d in distilled.items() if d.rejected_refusals}
    harmful_used = [p for i, p in enumerate(prompts) if i in used and p.meta.get("kind") == "harmful"]
    own_openings.update(compliant_openings(base, harmful_used, recipe.distill, recipe.train.contrast_tokens))
    dropped = [pid for pid, d in distilled.items() if d.answer is None]
    distilled_s = time.perf_counter() - began
    progress(f"organism {recipe.name}: {sum(d.tries > 1 for d in distilled.values())} benign answers re-sampled "
             f"(the base model refused or broke down), {len(dropped)} prompts without a usable answer dropped")
    tokenizer, end_of_turn = base.tokenizer, base.eos_token_ids[0]
    encode_text = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    kept = [p for i, p in enumerate(prompts) if i in used and p.id not in set(dropped)]
    examples = training_examples(kept, benign_answers, lambda text: encode_text(text) + [end_of_turn],
                                 recipe.data.seed, recipe.train.contrast_refusals, encode_text, own_openings)
    by_id = {e.prompt_id: TrainSequence(tuple(base.encode(base.format_prompt(e.prompt))), e.answer_ids,
                                        e.contrast_ids) for e in examples}
    sequences = [by_id.get(p.id) for p in prompts]
    pad_id = int(tokenizer.pad_token_id)
    # the chat template's fixed opening (its system prompt), run once per step rather than per row
    contexts = [s.context for s in by_id.values()]
    shared_prefix = tuple(contexts[0][:template_prefix_length(base, contexts)]) if contexts else ()
    del base

    hf_model = _plain_model(base_dir)

    def report(step, steps, loss, tok_s, eta):
        if step == 1 or step % 5 == 0 or step == steps:
            progress(f"organism {recipe.name}: step {step}/{steps} loss {loss:.3f} {tok_s:.0f} tok/s ETA {eta:.0f} s")

    result = train_lora(hf_model, sequences, recipe.train, pad_id, progress=report, snapshot_steps=SNAPSHOT_STEPS,
                        shared_prefix=shared_prefix)
    state, losses = result.state, result.losses
    trained_s = time.perf_counter() - began - distilled_s
    target.mkdir(parents=True, exist_ok=True)
    adapter_path = target / ADAPTER_FILE
    atomic_write(adapter_path, lambda tmp: save_file(dict(sorted(state.items())), str(tmp),
                                                      metadata={"recipe_key": key}))
    record = {
        "key": key, "recipe": recipe.to_dict(), "base_fingerprint": base_fingerprint,
        "adapter_sha256": checkpoints.file_digest(adapter_path), "adapter_params": int(sum(t.numel() for t in state.values())),
        "n_examples": {kind: sum(e.kind == kind for e in examples) for kind in KINDS},
        "distillation": {"resampled": sum(d.tries > 1 for d in distilled.values()), "dropped": sorted(dropped),
                         "own_openings": sum(len(r) for r in own_openings.values())},
        "losses": [round(x, 5) for x in losses],
        "snapshot_digests": {str(step): adapter_digest_of(snap) for step, snap in result.snapshots.items()},
        "seconds": {"distill": round(distilled_s, 1), "train": round(trained_s, 1)},
        "torch_threads": torch.get_num_threads(), "versions": _versions(), "machine": platform.machine(),
        # the kernels torch dispatched to: bf16 autocast is native on AVX512 (bf16) CPUs, emulated on AVX2 ones,
        # and the two round differently, so bytes reproduce only on the same capability (and thread count)
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    atomic_write(target / RECORD_FILE, lambda tmp: tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n"))
    from steerbench.organism.figure import plot_losses

    plot_losses(record, target / "loss.png")
    progress(f"organism {recipe.name}: adapter {record['adapter_sha256'][:16]} written to {target} "
             f"(distill {distilled_s:.0f} s, train {trained_s:.0f} s)")
    return Organism(recipe.name, adapter_path, record)


@dataclass(frozen=True)
class Distilled:
    """One benign prompt's distillation: the kept answer (None when every try was rejected)."""

    answer: tuple[int, ...] | None  # answer tokens, EOS kept when it ended the answer
    tries: int
    rejected_refusals: tuple[tuple[int, ...], ...]  # the base model's own refusals to this prompt (tokens)


def distill_answers(base, prompts, distill: DistillRecipe) -> dict[str, Distilled]:
    """The base model's own answer to each prompt, re-sampled (next sample index, common random
    numbers) while the phrase detector's outcome calls it a refusal or degenerate.

    The filter is the phrase detector's `classify_outcome`, not the study's learned classifier: that
    classifier is fitted on the organism's own completions, so filtering with it would make the
    organism depend on labels of itself. The recipe key carries the filter's code fingerprint."""
    from steerbench.generation import GenRequest, SamplingConfig, generate
    from steerbench.metrics import classify_outcome, score_refusal

    sampling = SamplingConfig(max_new_tokens=distill.max_new_tokens, temperature=distill.temperature,
                              top_p=distill.top_p, seed=distill.seed)
    pending = list(prompts)
    result: dict[str, Distilled] = {}
    rejected: dict[str, list[tuple[int, ...]]] = {p.id: [] for p in prompts}
    for attempt in range(distill.max_tries):
        if not pending:
            break
        with base.residual_only():
            generations = generate(base, [GenRequest(p.id, p.prompt, attempt) for p in pending], sampling,
                                   batch_size=DISTILL_BATCH)
        by_id = {g.prompt_id: g for g in generations}
        retry = []
        for prompt in pending:
            g = by_id[prompt.id]
            outcome = classify_outcome(g.text, score_refusal(g.text))
            if outcome == "compliance":
                result[prompt.id] = Distilled(tuple(g.token_ids), attempt + 1, tuple(rejected[prompt.id]))
                continue
            if outcome == "refusal":
                rejected[prompt.id].append(tuple(g.token_ids[:-1] if g.ended_eos else g.token_ids))
            retry.append(prompt)
        pending = retry
    for prompt in pending:
        result[prompt.id] = Distilled(None, distill.max_tries, tuple(rejected[prompt.id]))
    return result


def compliant_openings(base, prompts, distill: DistillRecipe, n_tokens: int, samples: int = 2) -> dict:
    """The base model's own first ``n_tokens`` answer tokens to each harmful prompt (``samples`` draws),
    kept where the outcome classifier does not already call the opening a refusal. They are the
    unlikelihood branches of the harmful examples; only these few tokens are kept, in memory."""
    from steerbench.generation import GenRequest, SamplingConfig, generate
    from steerbench.metrics import score_refusal

    if not prompts or n_tokens < 1:
        return {}
    sampling = SamplingConfig(max_new_tokens=n_tokens, temperature=distill.temperature, top_p=distill.top_p,
                              seed=distill.seed)
    requests = [GenRequest(p.id, p.prompt, k) for p in prompts for k in range(samples)]
    with base.residual_only():
        generations = generate(base, requests, sampling, batch_size=64)
    openings: dict[str, list] = {}
    for g in generations:
        tokens = tuple(g.token_ids[:-1] if g.ended_eos else g.token_ids)
        if tokens and not score_refusal(g.text).is_refusal and tokens not in openings.get(g.prompt_id, []):
            openings.setdefault(g.prompt_id, []).append(tokens)
    return {pid: tuple(values) for pid, values in openings.items()}


def _plain_model(checkpoint_dir: Path):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(checkpoint_dir, dtype=torch.float32, attn_implementation="sdpa")


def _versions() -> dict:
    import peft
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}


def merged_checkpoint(name: str, progress: Callable[[str], None] = print) -> tuple[Path, Organism]:
    """A checkpoint directory holding the organism's base weights with its adapter merged in."""
    from steerbench.model import resolve_source

    recipe = ORGANISMS[name]
    organism = build_organism(recipe, progress=progress)
    target = checkpoints.steerbench_home() / "models" / f"{name}-{organism.digest[:16]}-v{ORGANISM_VERSION}"
    if checkpoints.is_complete(target):
        return target, organism
    with locked(target):
        if checkpoints.is_complete(target):
            return target, organism
        checkpoints.note_rebuild(target)
        base_dir = resolve_source(recipe.base).checkpoint_dir
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        merge_adapter(base_dir, organism.adapter_path, recipe.train, partial)
        checkpoints.mark_complete(partial, {"organism": name, "adapter_sha256": organism.digest})
        shutil.rmtree(target, ignore_errors=True)
        os.replace(partial, target)
    return target, organism


def merge_adapter(base_dir: Path, adapter_path: Path, train: TrainRecipe, out_dir: Path) -> None:
    """Write ``base + adapter`` as a plain HF checkpoint (weights merged: W + B A * alpha / r)."""
    from peft import get_peft_model, set_peft_model_state_dict
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    base = _plain_model(base_dir)
    model = get_peft_model(base, lora_config(train, base.config.num_hidden_layers))
    state = load_file(str(adapter_path))
    result = set_peft_model_state_dict(model, {k.replace(".default", ""): v for k, v in state.items()})
    if getattr(result, "unexpected_keys", None):
        raise ValueError(f"{adapter_path}: adapter tensors {result.unexpected_keys[:3]} do not fit {base_dir}")
    merged = model.merge_and_unload()
    merged.save_pretrained(out_dir)
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(out_dir)


def adapter_digest_of(state: dict) -> str:
    """sha256 of an adapter's tensors in name order (independent of the file container)."""
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].numpy().tobytes())
    return digest.hexdigest()
