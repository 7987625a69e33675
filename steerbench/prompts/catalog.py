"""Lookups over all template data, and the small helpers every generator shares.

Generated prompts record their template id and topic key in meta (`template`, `topic`), so a
derived prompt (paired control, perturbation) is rebuilt from the same frame and topic rather than
by editing text.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from steerbench.prompts.schema import Prompt, PromptMeta
from steerbench.prompts.templates import FRAMES, Frame, Topic
from steerbench.prompts.templates_benign import META_SAFETY_FRAMES
from steerbench.prompts.templates_distill import DISTILL_FRAMES
from steerbench.prompts.topics_ambiguous import AMBIGUOUS_TEST, AMBIGUOUS_TRAIN, DUAL_USE_TEST, DUAL_USE_TRAIN
from steerbench.prompts.topics_harm import HARM_TEST, HARM_TRAIN

HARM_FAMILIES = ("direct", "indirection_roleplay", "dual_use", "borderline")

# split -> family -> topic pool; direct and indirection/roleplay share the harmful topics
TOPICS: dict[str, dict[str, tuple[Topic, ...]]] = {
    "train": {
        "direct": HARM_TRAIN,
        "indirection_roleplay": HARM_TRAIN,
        "dual_use": DUAL_USE_TRAIN,
        "borderline": AMBIGUOUS_TRAIN,
    },
    "test": {
        "direct": HARM_TEST,
        "indirection_roleplay": HARM_TEST,
        "dual_use": DUAL_USE_TEST,
        "borderline": AMBIGUOUS_TEST,
    },
}
EXPECTED_BEHAVIOR = {
    "direct": "refuse",
    "indirection_roleplay": "refuse",
    "dual_use": "calibrated",
    "borderline": "calibrated",
}


def _index(items: Iterable, key: str) -> dict:
    index: dict = {}
    for item in items:
        name = getattr(item, key)
        if name in index:
            raise ValueError(f"duplicate {key} {name!r} in the prompt templates")
        index[name] = item
    return index


ALL_TOPICS = HARM_TRAIN + HARM_TEST + DUAL_USE_TRAIN + DUAL_USE_TEST + AMBIGUOUS_TRAIN + AMBIGUOUS_TEST
TOPICS_BY_KEY: dict[str, Topic] = _index(ALL_TOPICS, "key")
FRAMES_BY_ID: dict[str, Frame] = _index(
    [frame for families in FRAMES.values() for frames in families.values() for frame in frames]
    + list(META_SAFETY_FRAMES)
    + list(DISTILL_FRAMES),
    "id",
)


def rng_for(seed: int, stream: str) -> random.Random:
    """An independent, reproducible random stream per output (a str seed is hashed with SHA-512)."""
    return random.Random(f"steerbench-prompts:{seed}:{stream}")


def allocate(total: int, weights: dict[str, int]) -> dict[str, int]:
    """Split `total` by integer weights with largest remainders (ties go to the earlier key)."""
    weight_sum = sum(weights.values())
    exact = {key: total * weight / weight_sum for key, weight in weights.items()}
    counts = {key: int(value) for key, value in exact.items()}
    by_remainder = sorted(weights, key=lambda key: -(exact[key] - counts[key]))
    for key in by_remainder[: total - sum(counts.values())]:
        counts[key] += 1
    return counts


def topic_of(prompt: Prompt) -> Topic:
    return TOPICS_BY_KEY[str(prompt.meta.get("topic"))]


def frame_of(prompt: Prompt) -> Frame:
    return FRAMES_BY_ID[str(prompt.meta.get("template"))]


def generated_meta(*, family: str, frame: Frame, topic: Topic, risk_level: str, expected_behavior: str,
                   slice_name: str, parent_id: str | None = None) -> PromptMeta:
    """Meta of a prompt rendered from `frame` and `topic` (records template, topic, sub-family)."""
    extra = (("subfamily", topic.subfamily), ("template", frame.id), ("topic", topic.key))
    return PromptMeta(
        family=family,
        style=frame.style,
        category=topic.category,
        risk_level=risk_level,
        expected_behavior=expected_behavior,
        slice=slice_name,
        attack_pattern=frame.attack_pattern,
        language="en",
        parent_id=parent_id,
        extra=extra,
    )


def with_ids(prompts: Iterable[Prompt], prefix: str) -> tuple[Prompt, ...]:
    """Number prompts in order: prefix_0001, prefix_0002, ..."""
    return tuple(
        Prompt(id=f"{prefix}_{number:04d}", prompt=prompt.prompt, meta=prompt.meta)
        for number, prompt in enumerate(prompts, start=1)
    )
