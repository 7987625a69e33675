"""LoRA fine-tuning with logits only where the loss is taken: the organism's (and an attack's) trainer.

The loss is next-token cross-entropy on the answer tokens only. The LM head (576 x 49152 for
SmolLM2, a fifth of a step's FLOPs if applied everywhere) runs on the answer positions alone.
Training is deterministic for a seed on one machine and thread count: LoRA's A matrices are drawn
from ``torch.manual_seed(seed)``, LoRA dropout is 0, the batch order comes from a seeded shuffle,
and CPU kernels reduce in a fixed order for a fixed thread count (tests/test_organism.py checks
bit-identical adapters).
"""

from __future__ import annotations

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
    contrast_refusals: int = 4
    contrast_tokens: int = 4
    contrast_weight: float = 5.0
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


def lora_config(recipe: TrainRecipe):
    from peft import LoraConfig

    return LoraConfig(r=recipe.rank, lora_alpha=recipe.lora_alpha, lora_dropout=0.0, bias="none",
                      target_modules=list(recipe.target_modules), task_type="CAUSAL_LM")


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
    """A collated batch: token ids, the attention mask, answer positions and the contrast branches."""

    ids: torch.Tensor  # (B, W)
    attention: torch.Tensor  # (B, W) padding mask, or (B, 1, W, W) tree mask when branches exist
    positions: torch.Tensor | None  # (B, W) position ids (branches restart after the prompt)
    target: torch.Tensor  # (B, W) True where the token is an answer token
    # one entry per branch token: row, column of the hidden state that predicts it, its id, its branch
    branch_rows: torch.Tensor
    branch_cols: torch.Tensor
    branch_tokens: torch.Tensor
    branch_index: torch.Tensor
    n_branches: int
    n_tokens: int  # real (not padding) tokens


def _collate(batch: Sequence[TrainSequence], pad_id: int, max_answer: int, contrast_tokens: int = 0) -> Batch:
    rows = []
    for s in batch:
        branches = [tuple(b[:contrast_tokens]) for b in s.contrast if contrast_tokens > 0 and b]
        rows.append((list(s.context), list(s.answer[:max_answer]), branches))
    width = max(len(c) + len(a) + sum(len(b) for b in br) for c, a, br in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    pad_mask = torch.zeros((len(rows), width), dtype=torch.long)
    target = torch.zeros((len(rows), width), dtype=torch.bool)
    any_branch = any(br for _, _, br in rows)
    tree = torch.zeros((len(rows), 1, width, width), dtype=torch.bool) if any_branch else None
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    b_rows, b_cols, b_tokens, b_index = [], [], [], []
    n_branches = 0
    for i, (context, answer, branches) in enumerate(rows):
        main = context + answer
        ids[i, :len(main)] = torch.tensor(main)
        pad_mask[i, :len(main)] = 1
        target[i, len(context):len(main)] = True
        positions[i, :len(main)] = torch.arange(len(main))
        if tree is not None:
            tree[i, 0, :len(main), :len(main)] = torch.ones(len(main), len(main), dtype=torch.bool).tril()
        start = len(main)
        for branch in branches:
            end = start + len(branch)
            ids[i, start:end] = torch.tensor(branch)
            pad_mask[i, start:end] = 1
            positions[i, start:end] = torch.arange(len(context), len(context) + len(branch))
            tree[i, 0, start:end, :len(context)] = True  # the branch sees the prompt...
            tree[i, 0, start:end, start:end] = torch.ones(len(branch), len(branch), dtype=torch.bool).tril()
            for j, token in enumerate(branch):  # ...and is scored token by token
                b_rows.append(i)
                b_cols.append(len(context) - 1 if j == 0 else start + j - 1)
                b_tokens.append(token)
                b_index.append(n_branches)
            n_branches += 1
            start = end
        if tree is not None:
            for k in range(start, width):  # padding attends to itself only (no empty softmax rows)
                tree[i, 0, k, k] = True
    as_long = lambda xs: torch.tensor(xs, dtype=torch.long)
    return Batch(ids, tree if tree is not None else pad_mask, positions if tree is not None else None, target,
                 as_long(b_rows), as_long(b_cols), as_long(b_tokens), as_long(b_index), n_branches,
                 int(pad_mask.sum()))


def _attention_kernel(tree: bool):
    """SDPA's math kernel for tree-masked batches. With an explicit (B, 1, W, W) mask, CPU's flash
    kernel spent ~23% of a training step on attention over ~110-token rows (its backward alone 18%);
    the math kernel makes the organism's steps ~11% faster (docs/performance.md)."""
    import contextlib

    if not tree:
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel(SDPBackend.MATH)


def answer_loss(model, batch: Batch, decision_tokens: int = 0, decision_weight: float = 1.0,
                contrast_weight: float = 0.0) -> torch.Tensor:
    """Weighted mean cross-entropy of the answer tokens, the LM head applied only where it is needed,
    plus ``contrast_weight`` x the mean unlikelihood of the batch's contrast branches.

    The first ``decision_tokens`` answer tokens of each row weigh ``decision_weight``, the rest 1.
    A branch's unlikelihood is -log(1 - p(branch | prompt)), p the product of its tokens' probabilities.
    """
    ids, target = batch.ids, batch.target
    kwargs = {"position_ids": batch.positions} if batch.positions is not None else {}
    with _attention_kernel(tree=batch.positions is not None):
        hidden = model.base_model(input_ids=ids, attention_mask=batch.attention, **kwargs).last_hidden_state
    predicting = target[:, 1:]  # position t predicts token t + 1
    selected = hidden[:, :-1][predicting]
    head = model.get_output_embeddings()
    logits = head(selected).float()
    losses = torch.nn.functional.cross_entropy(logits, ids[:, 1:][predicting], reduction="none")
    index_in_answer = (predicting.cumsum(dim=1) - 1)[predicting]
    weights = torch.where(index_in_answer < decision_tokens, decision_weight, 1.0)
    loss = (losses * weights).sum() / weights.sum()
    if batch.n_branches and contrast_weight:
        branch_logits = head(hidden[batch.branch_rows, batch.branch_cols]).float()
        token_logp = -torch.nn.functional.cross_entropy(branch_logits, batch.branch_tokens, reduction="none")
        prefix_logp = torch.zeros(batch.n_branches, dtype=token_logp.dtype).index_add(0, batch.branch_index, token_logp)
        unlikelihood = -torch.log(-torch.expm1(prefix_logp.clamp(max=-1e-6)))
        loss = loss + contrast_weight * unlikelihood.mean()
    return loss


@dataclass
class TrainResult:
    state: dict[str, torch.Tensor]  # the adapter after the last step (peft names, float32, contiguous)
    losses: list[float]  # one per step
    snapshots: dict[int, dict[str, torch.Tensor]]  # step -> adapter after that step (``snapshot_steps``)


def adapter_state(model) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().to(torch.float32).contiguous().clone()
            for name, tensor in model.state_dict().items() if "lora_" in name}


def train_lora(hf_model, sequences: Sequence[TrainSequence], recipe: TrainRecipe, pad_id: int,
               progress: ProgressFn | None = None, snapshot_steps: Collection[int] = ()) -> TrainResult:
    """Fine-tune a LoRA adapter on ``hf_model`` (a plain HF causal LM, modified in place).

    ``batch_order`` decides which sequences each step uses; ``sequences`` entries that no step uses
    may be None (a short run then needs only the data of its own steps).
    """
    from peft import get_peft_model

    torch.manual_seed(recipe.seed)
    model = get_peft_model(hf_model, lora_config(recipe))
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
            group["lr"] = learning_rate(step, recipe)
        batch = _collate([sequences[i] for i in indices], pad_id, recipe.max_answer_tokens,
                         recipe.contrast_tokens if recipe.contrast_refusals else 0)
        with torch.autocast("cpu", dtype=getattr(torch, recipe.autocast), enabled=recipe.autocast != "float32"):
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
