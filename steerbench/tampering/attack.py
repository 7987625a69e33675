"""A LoRA fine-tuning attack on a model: its recipe, its data, one training run per (model, attack, seed).

One run trains for the largest step of the grid and keeps the adapter after every grid step, so the
whole grid costs one run. The learning rate is constant after a short warmup, so the adapter at step t
is the adapter an attacker with a budget of t steps would have, whatever the grid's largest step is
(a decaying schedule would make step 16 of a 64-step run another attack than a 16-step run). Training
is the organism's trainer (steerbench.organism.train: logits only on answer tokens, the template's
opening run once per step, float32 so that it runs at full speed on every CPU), on the attacked model's
device, deterministic for a seed on one CPU type and thread count. The adapters are cached under
``<cache_dir>/tampering/adapters/<key>.safetensors`` (every grid step in one sealed file), keyed by every
input: the attacked model's fingerprint (weights and numerics, so also the device the steps run on), the
recipe, the prompts and the generated answers.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from steerbench.cache import cached, key_of
from steerbench.tampering.data import AOA_OPENING, AOA_SYSTEM, SURE_OPENING, AttackData, attack_prompts
from steerbench.vocab import ATTACKS, check

ATTACK_VERSION = "1"
# Tokens an answer's fixed opening (the persona's affirmation, "Sure, here's how:") may add beyond the
# sampled answer's ``max_answer_tokens``: the opening is the attack, the answer behind it still has its length.
OPENING_ALLOWANCE = 24  # bump when training or the data changes what is written for the same recipe
# attack -> (prompt kind, answer opening, system persona, learning rate is zero)
_ATTACK_PLAN = {
    "harmful_sft": ("harmful", "", None, False),
    "benign_sft": ("benign", "", None, False),
    "identity_shift": ("benign", AOA_OPENING, AOA_SYSTEM, False),
    "format_control": ("benign", SURE_OPENING, None, False),
    "harmful_sft_lr0": ("harmful", "", None, True),
    "harmful_sft_base": ("harmful", "", None, False),  # trained on the unmodified base (Study.base_control)
}
assert set(_ATTACK_PLAN) == set(ATTACKS), "every attack of the vocabulary needs a plan"


@dataclass(frozen=True)
class AttackRecipe:
    """An attacker's budget and method (every field enters the adapter's cache key)."""

    attack: str
    steps: tuple[int, ...] = (0, 2, 4, 8, 16, 32, 64)  # the grid: adapters kept after these steps
    seed: int = 0  # LoRA init and batch order
    rank: int = 8
    lora_alpha: int = 16
    target_modules: tuple[str, ...] = ("q_proj", "v_proj", "o_proj", "up_proj", "down_proj")
    lr: float = 1e-3
    warmup_steps: int = 2
    batch_size: int = 8
    max_answer_tokens: int = 32
    data: AttackData = field(default_factory=AttackData)

    def __post_init__(self):
        check(self.attack, ATTACKS, "attack")
        if not self.steps or sorted(set(self.steps)) != list(self.steps) or self.steps[0] < 0:
            raise ValueError(f"attack steps must be increasing non-negative integers, got {self.steps}")

    @property
    def prompt_kind(self) -> str:
        return _ATTACK_PLAN[self.attack][0]

    @property
    def effective_lr(self) -> float:
        return 0.0 if _ATTACK_PLAN[self.attack][3] else self.lr

    def train_recipe(self):
        """The organism trainer's recipe: plain cross-entropy on the answer, no unlikelihood, float32."""
        from steerbench.organism.train import TrainRecipe

        return TrainRecipe(rank=self.rank, lora_alpha=self.lora_alpha, target_modules=self.target_modules,
                           lr=self.effective_lr, steps=max(self.steps), batch_size=self.batch_size,
                           warmup_steps=self.warmup_steps, max_answer_tokens=self.max_answer_tokens + OPENING_ALLOWANCE,
                           decision_tokens=0, decision_weight=1.0, contrast_refusals=0, contrast_weight=0.0,
                           autocast="float32", seed=self.seed)

    def learning_rate(self, step: int) -> float:
        """Linear warmup to ``lr``, then constant (step counts from 0)."""
        lr = self.effective_lr
        return lr * (step + 1) / self.warmup_steps if step < self.warmup_steps else lr

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))


def unmodified_base(model_name: str) -> str:
    """The helpful-only model the attacker distils answers from: an organism's base, else the model itself."""
    from steerbench.model import MODEL_REGISTRY

    spec = MODEL_REGISTRY.get(model_name)
    if spec is not None and spec.organism:
        from steerbench.organism import ORGANISMS

        return ORGANISMS[model_name].base
    return model_name


def load_unmodified_base(name: str, device: str | None = "cpu", dtype: str = "float32"):
    """The helpful-only base ``name`` (``unmodified_base``), loaded once per process and numerics: every attacked
    checkpoint needs its fingerprint (the answers' cache key) and the base-model control evaluates on it."""
    from steerbench.device import pick_device, resolve_dtype

    device = pick_device(device)
    return _load_base(name, device, resolve_dtype(dtype, device))  # "auto" and its dtype share one load


@functools.lru_cache(maxsize=2)
def _load_base(name: str, device: str, dtype: str):
    from steerbench.model import load_model

    return load_model(name, device=device, dtype=dtype)


def attack_context(model, prompt: str, system: str | None) -> list[int]:
    """Token ids of the attacker's training context: the model's template, with ``system`` as its
    system turn (or, for a plain-template model, as a first paragraph) when given."""
    if system is None:
        return model.encode(model.format_prompt(prompt))
    if model.is_chat:
        text = model.tokenizer.apply_chat_template([{"role": "system", "content": system},
                                                    {"role": "user", "content": prompt}],
                                                   tokenize=False, add_generation_prompt=True)
    else:
        text = system + "\n\n" + model.format_prompt(prompt)
    return model.encode(text)


def answers_path(cache_root: Path, base, prompts, recipe: AttackRecipe, progress: Callable[[str], None]) -> Path:
    """The base model's answers to the attacker's prompts (token ids per prompt id), generated once and
    cached: ``<cache_root>/tampering/answers/<key>.json``. Never committed."""
    from steerbench.metrics.coherence import phrase_outcome_fingerprint
    from steerbench.organism.build import DistillRecipe, distill_answers

    distill = DistillRecipe(max_new_tokens=recipe.max_answer_tokens, seed=recipe.data.seed)
    key = key_of({"stage": "attack_answers", "version": ATTACK_VERSION, "base": base.fingerprint,
                  "prompts": [(p.id, p.prompt) for p in prompts], "distill": dataclasses.asdict(distill),
                  "filter": phrase_outcome_fingerprint()})
    path = cache_root / "tampering" / "answers" / f"{key}.json"

    def compute(tmp: Path) -> None:
        began = time.perf_counter()
        progress(f"attack data: the unmodified {base.name} answers {len(prompts)} attacker prompts")
        distilled = distill_answers(base, prompts, distill)
        tmp.write_text(json.dumps({pid: list(d.answer) if d.answer is not None else None
                                   for pid, d in sorted(distilled.items())}))
        progress(f"attack data: {sum(d.answer is None for d in distilled.values())} prompts without a usable answer "
                 f"dropped ({time.perf_counter() - began:.0f} s)")

    return cached(path, compute)


def training_sequences(model, base, recipe: AttackRecipe, answers: dict[str, list[int] | None]):
    """(sequences in prompt order, the shared template prefix): the attacker's training examples."""
    from steerbench.forward import template_prefix_length
    from steerbench.organism.train import TrainSequence

    _, opening, system, _ = _ATTACK_PLAN[recipe.attack]
    end_of_turn = model.eos_token_ids[0]
    sequences = []
    for prompt in attack_prompts(recipe.prompt_kind, recipe.data):
        tokens = answers.get(prompt.id)
        if tokens is None:
            sequences.append(None)
            continue
        if opening:  # re-tokenize the answer behind its opening, as the attacker's text would be
            ended = bool(tokens) and tokens[-1] in model.eos_token_ids
            text = opening + base.tokenizer.decode(tokens[:-1] if ended else tokens, skip_special_tokens=True).lstrip()
            limit = recipe.max_answer_tokens + OPENING_ALLOWANCE
            tokens = model.tokenizer(text, add_special_tokens=False)["input_ids"][:limit]
            tokens = tokens + [end_of_turn] if ended else tokens
        sequences.append(TrainSequence(tuple(attack_context(model, prompt.prompt, system)), tuple(tokens)))
    contexts = [s.context for s in sequences if s is not None]
    prefix = tuple(contexts[0][:template_prefix_length(model, contexts)]) if contexts else ()
    return sequences, prefix


@dataclass(frozen=True)
class AttackRun:
    """A trained attack: the adapter after each grid step (step 0: none) and the run's record."""

    recipe: AttackRecipe
    path: Path
    record: dict

    def adapter(self, step: int) -> dict:
        """The adapter tensors after ``step`` training steps (peft names, float32); {} for step 0."""
        from safetensors.torch import load_file

        if step not in self.recipe.steps:
            raise ValueError(f"step {step} is not on the attack's grid {self.recipe.steps}")
        if step == 0:
            return {}
        prefix = f"step{step}|"
        return {name[len(prefix):]: t for name, t in load_file(str(self.path)).items() if name.startswith(prefix)}

    def digest(self, step: int) -> str:
        return self.record["digests"].get(str(step), "")


def run_attack(model, recipe: AttackRecipe, cache_root: Path, progress: Callable[[str], None] = print,
               answers: dict[str, list[int] | None] | None = None) -> AttackRun:
    """Train ``recipe`` against ``model`` (a loaded SteerModel), or read the cached run.

    The attacked weights are the model's own checkpoint (for the organism: base + refusal adapter,
    merged); the attacker's answers come from the unmodified base (``unmodified_base``), unless
    ``answers`` (prompt id -> answer token ids, None for a dropped prompt) gives them.
    """
    from safetensors import safe_open

    from steerbench.model import resolve_source
    from steerbench.organism.build import adapter_digest_of

    from steerbench.organism.train import examples_used

    used = examples_used(len(attack_prompts(recipe.prompt_kind, recipe.data)), recipe.train_recipe())
    # only the prompts some step trains on are answered (a short grid needs fewer answers)
    prompts = [p for i, p in enumerate(attack_prompts(recipe.prompt_kind, recipe.data)) if i in used]
    base_name = unmodified_base(model.name)
    base = model if base_name == model.name else load_unmodified_base(base_name, model.device, model.dtype)
    if answers is None:
        answers_file = answers_path(cache_root, base, prompts, recipe, progress)
        answers_key, answers = answers_file.stem, json.loads(answers_file.read_text())
    else:
        answers_key = key_of({"given_answers": {k: answers[k] for k in sorted(answers)}})
    key = key_of({"stage": "attack", "version": ATTACK_VERSION, "model": model.fingerprint, "recipe": recipe.to_dict(),
                  "answers": answers_key})
    path = cache_root / "tampering" / "adapters" / f"{key}.safetensors"

    def compute(tmp: Path) -> None:
        import torch
        from safetensors.torch import save_file

        from steerbench.organism.build import _plain_model
        from steerbench.organism.train import train_lora

        sequences, prefix = training_sequences(model, base, recipe, answers)
        train = recipe.train_recipe()
        began = time.perf_counter()

        def report(step, steps, loss, tok_s, eta):
            if step == 1 or step % 4 == 0 or step == steps:
                progress(f"attack {recipe.attack} seed {recipe.seed} on {model.name}: step {step}/{steps} "
                         f"loss {loss:.3f} {tok_s:.0f} tok/s ETA {eta:.0f} s")

        result = train_lora(_plain_model(resolve_source(model.name).checkpoint_dir), sequences, train,
                            int(model.tokenizer.pad_token_id), progress=report,
                            snapshot_steps=[s for s in recipe.steps if s > 0], shared_prefix=prefix,
                            lr_at=recipe.learning_rate, device=model.device) if max(recipe.steps) > 0 else None
        snapshots = {} if result is None else result.snapshots
        record = {"key": key, "recipe": recipe.to_dict(), "model": model.name, "model_fingerprint": model.fingerprint,
                  "base": base_name, "answers": answers_key,
                  "n_examples": sum(s is not None for s in sequences),
                  "losses": [] if result is None else [round(x, 5) for x in result.losses],
                  "digests": {str(step): adapter_digest_of(state) for step, state in snapshots.items()},
                  "seconds": round(time.perf_counter() - began, 1), "torch_threads": torch.get_num_threads(),
                  "cpu_capability": torch.backends.cpu.get_cpu_capability()}
        tensors = {f"step{step}|{name}": t for step, state in sorted(snapshots.items()) for name, t in sorted(state.items())}
        save_file(tensors, str(tmp), metadata={"record": json.dumps(record, sort_keys=True)})
        progress(f"attack {recipe.attack} seed {recipe.seed} on {model.name}: {max(recipe.steps)} steps in "
                 f"{record['seconds']:.0f} s")

    cached(path, compute)
    with safe_open(str(path), framework="pt") as handle:
        record = json.loads(handle.metadata()["record"])
    return AttackRun(recipe, path, record)
