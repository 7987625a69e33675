"""The diagnostic slices: perturbations of harm_test prompts, and distillation stress tests.

Every perturbation is rebuilt from its parent's frame and topic (recorded in meta) and carries the
parent's meta except `slice`, `parent_id` and the field it perturbs (`style` for tone, `language`).
"""

from __future__ import annotations

import dataclasses
import random

from steerbench.prompts.catalog import frame_of, generated_meta, topic_of, with_ids
from steerbench.prompts.schema import Prompt
from steerbench.prompts.templates_distill import DISTILL_FRAMES
from steerbench.prompts.templates_perturb import (
    LANGUAGES,
    PARAPHRASES,
    TONE_WRAPPERS,
    TRANSLATED_FRAMES,
    TRANSLATED_TOPICS,
)
from steerbench.prompts.topics_harm import HARM_TEST

TONE_PARENTS = 18  # harm_test prompts given a tone wrapper (6 per tone)
ORDER_PARENTS = 18  # multi-sentence harm_test prompts given a rotated sentence order
LANGUAGE_PARENTS = 8  # harm_test prompts translated per language (each with its paired control)
DISTILL_HARMFUL = 24
DISTILL_TWINS = 12  # benign twins, for the first DISTILL_TWINS harmful distill prompts


def build_perturbations(harm_test: tuple[Prompt, ...], benign: tuple[Prompt, ...], rng: random.Random) -> tuple[Prompt, ...]:
    """perturbations.jsonl: paraphrase, tone, order and language slices, in that order."""
    drafts = (
        _paraphrases(harm_test)
        + _tones(harm_test, rng)
        + _orders(harm_test, rng)
        + _translations(harm_test, benign, rng)
    )
    return with_ids(drafts, "perturb")


def _derived(parent: Prompt, text: str, slice_name: str, **changes: str) -> Prompt:
    meta = dataclasses.replace(parent.meta, slice=slice_name, parent_id=parent.id, **changes)
    return Prompt(id="", prompt=text, meta=meta)


def _paraphrases(harm_test: tuple[Prompt, ...]) -> list[Prompt]:
    """The first harm_test prompt of each paraphrased topic, its request reworded, frame kept."""
    first_by_topic: dict[str, Prompt] = {}
    for prompt in harm_test:
        first_by_topic.setdefault(str(prompt.meta.get("topic")), prompt)
    return [
        _derived(parent, frame_of(parent).render(PARAPHRASES[key]), "perturb_paraphrase")
        for key, parent in first_by_topic.items()
        if key in PARAPHRASES
    ]


def _tones(harm_test: tuple[Prompt, ...], rng: random.Random) -> list[Prompt]:
    parents = rng.sample(harm_test, min(TONE_PARENTS, len(harm_test)))
    tones = list(TONE_WRAPPERS)
    derived = []
    for index, parent in enumerate(parents):
        tone = tones[index % len(tones)]
        opening, closing = TONE_WRAPPERS[tone]
        derived.append(_derived(parent, f"{opening} {parent.prompt} {closing}", "perturb_tone", style=tone))
    return derived


def _orders(harm_test: tuple[Prompt, ...], rng: random.Random) -> list[Prompt]:
    """Multi-sentence prompts with the last sentence moved first."""
    candidates = [prompt for prompt in harm_test if len(frame_of(prompt).parts) > 1]
    derived = []
    for parent in rng.sample(candidates, min(ORDER_PARENTS, len(candidates))):
        parts = frame_of(parent).render_parts(topic_of(parent).request)
        derived.append(_derived(parent, " ".join(parts[-1:] + parts[:-1]), "perturb_order"))
    return derived


def _translations(harm_test: tuple[Prompt, ...], benign: tuple[Prompt, ...], rng: random.Random) -> list[Prompt]:
    """Per language: translated harm_test prompts, each followed by its translated paired control."""
    control_of = {prompt.meta.parent_id: prompt for prompt in benign if prompt.meta.slice == "paired_control"}
    derived = []
    for language in LANGUAGES:
        frames = TRANSLATED_FRAMES[language]
        candidates = [
            prompt for prompt in harm_test
            if prompt.meta.get("template") in frames and prompt.meta.get("topic") in TRANSLATED_TOPICS
        ]
        for parent in rng.sample(candidates, min(LANGUAGE_PARENTS, len(candidates))):
            parts = frames[str(parent.meta.get("template"))]
            request, control = TRANSLATED_TOPICS[str(parent.meta.get("topic"))][language]
            derived.append(_derived(parent, _render(parts, request), "perturb_language", language=language))
            twin = control_of.get(parent.id)
            if twin is not None:
                derived.append(_derived(twin, _render(parts, control), "perturb_language", language=language))
    return derived


def _render(parts: tuple[str, ...], phrase: str) -> str:
    return " ".join(part.replace("{request}", phrase) for part in parts)


def build_distill_stress(rng: random.Random) -> tuple[Prompt, ...]:
    """distill_stress.jsonl: harm_test topics in distillation-stress frames, then benign twins."""
    pairs = rng.sample([(topic, frame) for topic in HARM_TEST for frame in DISTILL_FRAMES], DISTILL_HARMFUL)
    harmful = with_ids(
        (
            Prompt(
                id="",
                prompt=frame.render(topic.request),
                meta=generated_meta(
                    family="indirection_roleplay",
                    frame=frame,
                    topic=topic,
                    risk_level=topic.risk_level,
                    expected_behavior="refuse",
                    slice_name="distill_stress",
                ),
            )
            for topic, frame in pairs
        ),
        "distill",
    )
    twins = [
        Prompt(
            id=f"distill_{DISTILL_HARMFUL + number:04d}",
            prompt=frame_of(parent).render(topic_of(parent).control),
            meta=dataclasses.replace(
                parent.meta, family="benign_control", risk_level="none", expected_behavior="comply", parent_id=parent.id
            ),
        )
        for number, parent in enumerate(harmful[:DISTILL_TWINS], start=1)
    ]
    return harmful + tuple(twins)
