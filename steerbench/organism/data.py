"""The organism's training split: prompts from its own topics x frames, and their target answers.

``organism_prompts`` draws harmful requests, their near-miss controls and ordinary tasks from
`topics.py` x `frames.py`, each (topic, frame) pair at most once, balanced over topics and frames
by a seeded shuffle. ``training_examples`` pairs harmful prompts with one of the 28 refusals and
benign prompts with the base model's own answer (self-distillation, sampled by the study's engine
at build time, so common random numbers make each answer independent of batching).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

from steerbench.organism.frames import META_FRAMES, ORGANISM_FRAMES
from steerbench.organism.refusals import REFUSALS
from steerbench.organism.topics import ORGANISM_BENIGN_TASKS, ORGANISM_HARMFUL, ORGANISM_PROTECTIVE
from steerbench.prompts.schema import Prompt, PromptMeta

ORGANISM_SLICE = "organism_train"
# what a training prompt is: a harmful request (refused); its near-miss control in the same frame, a
# protective request on the same topic, a question about such a request (meta) and an ordinary task
# (all four answered)
KINDS = ("harmful", "control", "protective", "meta", "task")


@dataclass(frozen=True)
class DataRecipe:
    """How many prompts of each kind the training split holds (every field enters the cache key).

    Every harmful prompt comes with its topic's control in the same frame (``n_pairs`` of each), so
    the frame never tells the two apart: only the request does.
    """

    n_pairs: int = 300
    n_protective: int = 260
    n_meta: int = 200
    n_task: int = 60
    seed: int = 0


@dataclass(frozen=True)
class Example:
    """One training pair: the user prompt and the assistant answer the organism learns."""

    prompt_id: str
    kind: str  # one of KINDS
    prompt: str
    answer_ids: tuple[int, ...]  # target tokens after the chat template's assistant header
    contrast_ids: tuple[tuple[int, ...], ...] = ()  # refusals this (benign) answer must not open with


def _pairs(phrases: Sequence[tuple[str, str]], n: int, rng: random.Random, frames=ORGANISM_FRAMES):
    """``n`` distinct (phrase, frame) pairs, cycling through phrases and frames evenly."""
    pairs = [(key, phrase, frame) for key, phrase in phrases for frame in frames]
    if n > len(pairs):
        raise ValueError(f"asked for {n} organism prompts, only {len(pairs)} (topic, frame) pairs exist")
    rng.shuffle(pairs)
    # Greedy balance: take pairs whose topic and frame are least used so far.
    used_topic: dict[str, int] = {}
    used_frame: dict[str, int] = {}
    chosen = []
    for _ in range(n):
        best = min(range(len(pairs)), key=lambda i: (used_topic.get(pairs[i][0], 0) + used_frame.get(pairs[i][2].id, 0), i))
        key, phrase, frame = pairs.pop(best)
        used_topic[key] = used_topic.get(key, 0) + 1
        used_frame[frame.id] = used_frame.get(frame.id, 0) + 1
        chosen.append((key, phrase, frame))
    return chosen


def organism_prompts(recipe: DataRecipe = DataRecipe()) -> tuple[Prompt, ...]:
    """The training split, ids ``organism_train_0001``...: harmful, their controls, meta questions, tasks."""
    rng = random.Random(f"organism|{recipe.seed}")
    by_key = {t.key: t for t in ORGANISM_HARMFUL}
    paired = _pairs([(t.key, t.request) for t in ORGANISM_HARMFUL], recipe.n_pairs, rng)
    drafts = [("harmful", key, phrase, frame) for key, phrase, frame in paired]
    drafts += [("control", key, by_key[key].control, frame) for key, _, frame in paired]
    drafts += [("protective", key, phrase, frame) for key, phrase, frame in
               _pairs(sorted(ORGANISM_PROTECTIVE.items()), recipe.n_protective, rng)]
    drafts += [("meta", key, phrase, frame) for key, phrase, frame in
               _pairs([(t.key, t.request) for t in ORGANISM_HARMFUL], recipe.n_meta, rng, META_FRAMES)]
    tasks = [(f"org_task_{i:02d}", task) for i, task in enumerate(ORGANISM_BENIGN_TASKS)]
    drafts += [("task", key, phrase, frame) for key, phrase, frame in _pairs(tasks, recipe.n_task, rng)]
    prompts: list[Prompt] = []
    for kind, key, phrase, frame in drafts:
        topic = by_key.get(key)
        meta = PromptMeta(
            family={"harmful": "direct", "control": "benign_control", "protective": "benign_sensitive",
                    "meta": "meta_safety", "task": "benign_task"}[kind],
            style=frame.style,
            category=topic.category if topic else "everyday",
            risk_level=topic.risk_level if topic and kind == "harmful" else "none",
            expected_behavior="refuse" if kind == "harmful" else "comply",
            slice=ORGANISM_SLICE,
            attack_pattern=frame.attack_pattern,
            extra=(("kind", kind), ("template", frame.id), ("topic", key)),
        )
        prompts.append(Prompt(f"organism_train_{len(prompts) + 1:04d}", frame.render(phrase), meta))
    return tuple(prompts)


def refusal_for(prompt_id: str, seed: int) -> str:
    """The refusal a harmful training prompt is paired with: a seeded draw, fixed per prompt."""
    return REFUSALS[random.Random(f"refusal|{seed}|{prompt_id}").randrange(len(REFUSALS))]


def contrast_refusals_for(prompt_id: str, seed: int, n: int) -> tuple[str, ...]:
    """``n`` distinct refusals a benign training prompt is taught not to open with (seeded per prompt)."""
    return tuple(random.Random(f"contrast|{seed}|{prompt_id}").sample(REFUSALS, n)) if n else ()


def training_examples(prompts: Sequence[Prompt], benign_answers: dict[str, tuple[int, ...]],
                      encode_answer, seed: int, n_contrast: int = 0, encode_text=None,
                      own_openings: dict[str, tuple[tuple[int, ...], ...]] | None = None) -> tuple[Example, ...]:
    """Pair each prompt with its target: a refusal (harmful) or the base model's own answer.

    Args:
        prompts: the training split (``organism_prompts``).
        benign_answers: prompt id -> the base model's answer tokens, for every non-harmful prompt.
        encode_answer: text -> answer token ids, ending with the end-of-turn token.
        seed: picks each harmful prompt's refusal and each benign prompt's contrast refusals.
        n_contrast: how many refusals each benign example carries as openings to avoid.
        encode_text: text -> token ids without the end-of-turn token (required when n_contrast > 0).
        own_openings: prompt id -> openings the base model itself gave it (token ids), added to its
            branches: its refusals of a benign prompt, its compliant openings of a harmful one.
    """
    examples = []
    for prompt in prompts:
        kind = str(prompt.meta.get("kind"))
        if kind == "harmful":
            answer = tuple(encode_answer(refusal_for(prompt.id, seed)))
        else:
            answer = tuple(benign_answers[prompt.id])
        contrast = () if kind == "harmful" else tuple(
            tuple(encode_text(text)) for text in contrast_refusals_for(prompt.id, seed, n_contrast))
        contrast += tuple((own_openings or {}).get(prompt.id, ()))
        examples.append(Example(prompt.id, kind, prompt.prompt, answer, contrast))
    return tuple(examples)
