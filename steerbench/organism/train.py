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


def _collate(batch: Sequence[TrainSequence], pad_id: int, max_answer: int):
    rows = [(list(s.context), list(s.answer[:max_answer])) for s in batch]
    width = max(len(c) + len(a) for c, a in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    target = torch.zeros((len(rows), width), dtype=torch.bool)  # True where the token is an answer token
    for i, (context, answer) in enumerate(rows):
        seq = context + answer
        ids[i, :len(seq)] = torch.tensor(seq)
        mask[i, :len(seq)] = 1
        target[i, len(context):len(seq)] = True
    return ids, mask, target


def answer_loss(model, ids: torch.Tensor, mask: torch.Tensor, target: torch.Tensor,
                decision_tokens: int = 0, decision_weight: float = 1.0) -> torch.Tensor:
    """Weighted mean cross-entropy of the answer tokens, the LM head applied only where it is needed.

    The first ``decision_tokens`` answer tokens of each row weigh ``decision_weight``, the rest 1.
    """
    hidden = model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
    predicting = target[:, 1:]  # position t predicts token t + 1
    selected = hidden[:, :-1][predicting]
    logits = model.get_output_embeddings()(selected).float()
    losses = torch.nn.functional.cross_entropy(logits, ids[:, 1:][predicting], reduction="none")
    index_in_answer = (predicting.cumsum(dim=1) - 1)[predicting]
    weights = torch.where(index_in_answer < decision_tokens, decision_weight, 1.0)
    return (losses * weights).sum() / weights.sum()


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
        ids, mask, target = _collate([sequences[i] for i in indices], pad_id, recipe.max_answer_tokens)
        with torch.autocast("cpu", dtype=getattr(torch, recipe.autocast), enabled=recipe.autocast != "float32"):
            loss = answer_loss(inner, ids, mask, target, recipe.decision_tokens, recipe.decision_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        tokens += int(mask.sum())
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
