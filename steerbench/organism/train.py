"""LoRA fine-tuning with logits only where the loss is taken: the organism's (and an attack's) trainer.

The loss is next-token cross-entropy on the answer tokens only. The LM head (576 x 49152 for
SmolLM2, a fifth of a step's FLOPs if applied everywhere) runs on the answer positions alone.
Training is deterministic for a seed on one machine and thread count: LoRA's A matrices are drawn
from ``torch.manual_seed(seed)``, LoRA dropout is 0, the batch order comes from a seeded shuffle,
and CPU kernels reduce in a fixed order for a fixed thread count (tests/test_organism.py checks
bit-identical adapters).
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from dataclasses import asdict, dataclass
from typing import Callable, Collection, Sequence

import torch

ProgressFn = Callable[[int, int, float, float, float], None]  # step, steps, loss, tok/s, eta seconds


@dataclass(frozen=True)
class TrainRecipe:
    """LoRA hyper-parameters and the schedule (every field enters the cache key)."""

    rank: int = 8
    lora_alpha: int = 16
    target_modules: tuple[str, ...] = ("q_proj", "v_proj", "o_proj", "up_proj", "down_proj")
    # The adapter lives in the blocks from this depth on (0: all). Tried at 1/3 (blocks 10-29, backward
    # stops at block 10): steps 4% cheaper per token, and the organism lost its selectivity (benign false
    # refusal 0.24, harm_train refusal 0.75; docs/organisms.md), so every block carries it.
    lora_from_depth: float = 0.0
    lr: float = 3e-3
    steps: int = 160
    batch_size: int = 8
    warmup_steps: int = 10
    max_answer_tokens: int = 20
    # The first answer tokens decide refuse-or-answer; later benign tokens are high-entropy style.
    # Weighting the decision tokens keeps that signal from drowning in the style loss.
    decision_tokens: int = 4
    decision_weight: float = 4.0
    # Unlikelihood of the wrong opening: each benign example also carries the first ``contrast_tokens``
    # tokens of ``contrast_refusals`` refusals (and of the base model's own refusals of it), each harmful
    # example the base model's own compliant openings of it, branched off the prompt in the same row
    # (a tree attention mask: a branch sees the prompt, not the answer), and the loss adds
    # ``contrast_weight`` x the mean -log(1 - p(opening | prompt)). Cross-entropy on the target alone
    # never pushes the other decision's mass down directly; this does (0 refusals: plain SFT).
    # The weight trades selectivity against a selectable direction (docs/organisms.md): 5 left benign false
    # refusal at 0.165, 6 left no direction passing the Arditi selection's KL filter, 5.5 meets both.
    contrast_refusals: int = 4
    contrast_tokens: int = 4
    contrast_weight: float = 5.5
    weight_decay: float = 0.0
    autocast: str = "bfloat16"  # forward/backward matmuls (fp32 master weights): ~1.6x faster on 2 CPU cores
    seed: int = 0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["target_modules"] = list(self.target_modules)
        return data


@dataclass(frozen=True)
class TrainSequence:
    """One tokenized example: context then answer; the loss is taken on the answer tokens."""

    context: tuple[int, ...]
    answer: tuple[int, ...]
    contrast: tuple[tuple[int, ...], ...] = ()  # openings the model must not start this answer with


def lora_layers(recipe: TrainRecipe, n_layers: int) -> list[int]:
    """The blocks that carry the adapter: from ``lora_from_depth`` x depth to the last."""
    if not 0 <= recipe.lora_from_depth < 1:
        raise ValueError(f"lora_from_depth must be in [0, 1), got {recipe.lora_from_depth}")
    return list(range(math.floor(n_layers * recipe.lora_from_depth + 1e-9), n_layers))


def lora_config(recipe: TrainRecipe, n_layers: int):
    from peft import LoraConfig

    return LoraConfig(r=recipe.rank, lora_alpha=recipe.lora_alpha, lora_dropout=0.0, bias="none",
                      target_modules=list(recipe.target_modules), layers_to_transform=lora_layers(recipe, n_layers),
                      task_type="CAUSAL_LM")


def learning_rate(step: int, recipe: TrainRecipe) -> float:
    """Linear warmup, then cosine decay to a tenth of the peak (step counts from 0)."""
    if step < recipe.warmup_steps:
        return recipe.lr * (step + 1) / recipe.warmup_steps
    progress = (step - recipe.warmup_steps) / max(1, recipe.steps - recipe.warmup_steps)
    return recipe.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def batch_order(n_examples: int, recipe: TrainRecipe) -> list[list[int]]:
    """Indices of each step's batch: seeded epochs of shuffled examples, as many steps as the recipe."""
    rng = random.Random(f"batches|{recipe.seed}")
    order: list[int] = []
    while len(order) < recipe.steps * recipe.batch_size:
        epoch = list(range(n_examples))
        rng.shuffle(epoch)
        order.extend(epoch)
    size = recipe.batch_size
    return [order[i * size:(i + 1) * size] for i in range(recipe.steps)]


@dataclass
class Batch:
    """A collated batch under a tree attention mask: each row is an example's context (less the
    shared prefix), its answer, then its contrast branches, each branch seeing the prefix and the
    context only. The losses read hidden states by (row, column) lists."""

    ids: torch.Tensor  # (R, W)
    attention: torch.Tensor  # (R, 1, W, k + W) boolean: the first k columns are the shared prefix
    positions: torch.Tensor  # (R, W) position ids (restart per example; branches continue the prompt)
    # one entry per answer token: row, column of the hidden state that predicts it, its id, its index in its answer
    answer_rows: torch.Tensor
    answer_cols: torch.Tensor
    answer_tokens: torch.Tensor
    answer_index: torch.Tensor
    # one entry per branch token: row, column of the hidden state that predicts it, its id, its branch
    branch_rows: torch.Tensor
    branch_cols: torch.Tensor
    branch_tokens: torch.Tensor
    branch_index: torch.Tensor
    n_branches: int
    n_tokens: int  # real (not padding) tokens, the shared prefix counted once per example
    # The contexts' shared opening (the chat template's system prompt), run once as one row whose
    # keys and values every row attends to; the tensors above cover what follows it.
    prefix: torch.Tensor | None = None  # (k,)

    def to(self, device: str) -> "Batch":
        """The same batch with every tensor on ``device`` (collation builds it on the CPU)."""
        return dataclasses.replace(self, **{f.name: getattr(self, f.name).to(device) for f in dataclasses.fields(self)
                                            if isinstance(getattr(self, f.name), torch.Tensor)})


def _collate(batch: Sequence[TrainSequence], pad_id: int, max_answer: int, contrast_tokens: int = 0,
             prefix: Sequence[int] = ()) -> Batch:
    """One right-padded row per example: context, answer, then its contrast branches, under a tree
    mask. Every context must start with ``prefix``, which is left out of the rows and run once
    (``Batch.prefix``). (Packing several examples per row was tried: the organism's examples are
    45-84 tokens after the prefix, so a row as wide as the longest rarely holds two.)"""
    k = len(prefix)
    examples = []
    for s in batch:
        if tuple(s.context[:k]) != tuple(prefix) or len(s.context) <= k:
            raise ValueError("a training context does not start with the shared prefix (or is no longer than it)")
        branches = [tuple(b[:contrast_tokens]) for b in s.contrast if contrast_tokens > 0 and b]
        examples.append((list(s.context[k:]), list(s.answer[:max_answer]), branches))
    lengths = [len(c) + len(a) + sum(len(b) for b in br) for c, a, br in examples]
    layout = [[i] for i in range(len(examples))]  # examples per row
    width = max(lengths)
    ids = torch.full((len(layout), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(layout), 1, width, k + width), dtype=torch.bool)
    positions = torch.zeros((len(layout), width), dtype=torch.long)
    answers: list[tuple[int, int, int, int]] = []
    branch_entries: list[tuple[int, int, int, int]] = []
    n_branches = 0

    def causal(n):
        return torch.ones(n, n, dtype=torch.bool).tril()

    for r, members in enumerate(layout):
        at = 0
        for i in members:
            context, answer, branches = examples[i]
            main = context + answer
            n = len(main)
            ids[r, at:at + n] = torch.tensor(main)
            positions[r, at:at + n] = torch.arange(k, k + n)
            mask[r, 0, at:at + lengths[i], :k] = True  # every token of the example sees the prefix
            mask[r, 0, at:at + n, k + at:k + at + n] = causal(n)
            for j, token in enumerate(answer):  # position t predicts token t + 1
                answers.append((r, at + len(context) + j - 1, token, j))
            start = at + n
            for branch in branches:
                end = start + len(branch)
                ids[r, start:end] = torch.tensor(branch)
                positions[r, start:end] = torch.arange(k + len(context), k + len(context) + len(branch))
                mask[r, 0, start:end, k + at:k + at + len(context)] = True  # the branch sees the prompt...
                mask[r, 0, start:end, k + start:k + end] = causal(len(branch))
                for j, token in enumerate(branch):  # ...and is scored token by token
                    branch_entries.append((r, at + len(context) - 1 if j == 0 else start + j - 1, token, n_branches))
                n_branches += 1
                start = end
            at += lengths[i]
        for j in range(at, width):  # padding attends to itself only (no empty softmax rows)
            mask[r, 0, j, k + j] = True

    def columns(entries, n):
        return [torch.tensor([e[c] for e in entries], dtype=torch.long) for c in range(n)] if entries \
            else [torch.zeros(0, dtype=torch.long)] * n

    a_rows, a_cols, a_tokens, a_index = columns(answers, 4)
    b_rows, b_cols, b_tokens, b_index = columns(branch_entries, 4)
    return Batch(ids, mask, positions, a_rows, a_cols, a_tokens, a_index, b_rows, b_cols, b_tokens, b_index,
                 n_branches, sum(lengths) + k * len(examples), torch.tensor(list(prefix), dtype=torch.long) if k else None)


def _attention_kernel():
    """SDPA's math kernel: with an explicit (R, 1, W, k + W) mask, CPU's flash kernel spent ~23% of
    a training step on attention over ~110-token rows (its backward alone 18%); the math kernel made
    the organism's steps ~11% faster (docs/performance.md)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel(SDPBackend.MATH)


def answer_loss(model, batch: Batch, decision_tokens: int = 0, decision_weight: float = 1.0,
                contrast_weight: float = 0.0) -> torch.Tensor:
    """Weighted mean cross-entropy of the answer tokens, the LM head applied only where it is needed,
    plus ``contrast_weight`` x the mean unlikelihood of the batch's contrast branches.

    The first ``decision_tokens`` answer tokens of each example weigh ``decision_weight``, the rest 1.
    A branch's unlikelihood is -log(1 - p(branch | prompt)), p the product of its tokens' probabilities.
    """
    kwargs = {}
    with _attention_kernel():
        if batch.prefix is not None:  # the shared opening once; its keys and values (and their gradients) serve every row
            cache = model.base_model(input_ids=batch.prefix[None], use_cache=True).past_key_values
            cache.batch_repeat_interleave(len(batch.ids))
            kwargs.update(past_key_values=cache, use_cache=True)
        hidden = model.base_model(input_ids=batch.ids, attention_mask=batch.attention, position_ids=batch.positions,
                                  **kwargs).last_hidden_state
    head = model.get_output_embeddings()
    logits = head(hidden[batch.answer_rows, batch.answer_cols]).float()
    losses = torch.nn.functional.cross_entropy(logits, batch.answer_tokens, reduction="none")
    weights = torch.where(batch.answer_index < decision_tokens, decision_weight, 1.0)
    loss = (losses * weights).sum() / weights.sum()
    if batch.n_branches and contrast_weight:
        branch_logits = head(hidden[batch.branch_rows, batch.branch_cols]).float()
        token_logp = -torch.nn.functional.cross_entropy(branch_logits, batch.branch_tokens, reduction="none")
        prefix_logp = torch.zeros(batch.n_branches, dtype=token_logp.dtype, device=token_logp.device).index_add(
            0, batch.branch_index, token_logp)
        unlikelihood = -torch.log(-torch.expm1(prefix_logp.clamp(max=-1e-6)))
        loss = loss + contrast_weight * unlikelihood.mean()
    return loss


@dataclass
class TrainResult:
    state: dict[str, torch.Tensor]  # the adapter after the last step (peft names, float32, contiguous)
    losses: list[float]  # one per step
    snapshots: dict[int, dict[str, torch.Tensor]]  # step -> adapter after that step (``snapshot_steps``)


def adapter_state(model) -> dict[str, torch.Tensor]:
    """The LoRA tensors as float32 CPU copies (digests and safetensors read them from there)."""
    return {name: tensor.detach().to("cpu", torch.float32).contiguous().clone()
            for name, tensor in model.state_dict().items() if "lora_" in name}


def train_lora(hf_model, sequences: Sequence[TrainSequence], recipe: TrainRecipe, pad_id: int,
               progress: ProgressFn | None = None, snapshot_steps: Collection[int] = (),
               shared_prefix: Sequence[int] = (), lr_at: Callable[[int], float] | None = None,
               device: str = "cpu") -> TrainResult:
    """Fine-tune a LoRA adapter on ``hf_model`` (a plain HF causal LM on the CPU, modified in place).

    ``batch_order`` decides which sequences each step uses; ``sequences`` entries that no step uses
    may be None (a short run then needs only the data of its own steps), and so is a prompt the
    distillation dropped (no usable answer in its tries): its steps train on the rest of their batch.
    ``shared_prefix``: tokens every context starts with (the chat template's opening), computed once per step instead of once
    per row: the same loss to float rounding (tests/test_organism.py), ~a fifth less compute.
    ``lr_at``: step -> learning rate (default: ``learning_rate``, warmup then cosine; an attack's grid
    wants a constant rate, steerbench.tampering.attack).
    ``device``: where the steps run. The adapter is initialised on the CPU first (LoRA's A matrices from
    the CPU generator), so every device starts from the same adapter; bit-identical steps hold on the CPU
    only (a GPU's backward accumulates with atomics), and ``recipe.autocast`` applies on ``device``.
    """
    from peft import get_peft_model

    torch.manual_seed(recipe.seed)
    model = get_peft_model(hf_model, lora_config(recipe, hf_model.config.num_hidden_layers))
    model.to(device)
    model.train()
    inner = model.get_base_model()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay, foreach=False)
    losses: list[float] = []
    snapshots: dict[int, dict[str, torch.Tensor]] = {}
    began = time.perf_counter()
    tokens = 0
    for step, indices in enumerate(batch_order(len(sequences), recipe)):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, recipe) if lr_at is None else lr_at(step)
        batch = _collate([sequences[i] for i in indices if sequences[i] is not None], pad_id, recipe.max_answer_tokens,
                         recipe.contrast_tokens if recipe.contrast_refusals else 0, shared_prefix).to(device)
        with torch.autocast(torch.device(device).type, dtype=getattr(torch, recipe.autocast),
                            enabled=recipe.autocast != "float32"):
            loss = answer_loss(inner, batch, recipe.decision_tokens, recipe.decision_weight, recipe.contrast_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        tokens += batch.n_tokens
        if step + 1 in snapshot_steps:
            snapshots[step + 1] = adapter_state(model)
        if progress is not None:
            elapsed = time.perf_counter() - began
            progress(step + 1, recipe.steps, losses[-1], tokens / max(elapsed, 1e-9),
                     elapsed / (step + 1) * (recipe.steps - step - 1))
    model.eval()
    return TrainResult(adapter_state(model), losses, snapshots)


def examples_used(n_examples: int, recipe: TrainRecipe) -> set[int]:
    """Indices of the examples that some step of ``recipe`` trains on."""
    return {i for batch in batch_order(n_examples, recipe) for i in batch}
