"""`steerbench prompts make`: generate every prompt file from the templates, reproducibly by seed.

Pure Python and deterministic: each output file draws from its own seeded random stream, and the
files are written in canonical JSON Lines, so the same arguments regenerate them byte for byte.

Sampling strategy: public refusal benchmarks are dominated by direct requests; here the four
harmful-side families (direct, indirection/roleplay, dual-use, borderline) get equal quotas, so half
of harm_train and harm_test is ambiguous or dual-use content where a calibrated answer is best.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

from steerbench.errors import DataError
from steerbench.prompts.catalog import (
    EXPECTED_BEHAVIOR,
    HARM_FAMILIES,
    TOPICS,
    allocate,
    frame_of,
    generated_meta,
    rng_for,
    topic_of,
    with_ids,
)
from steerbench.prompts.jsonl import write_jsonl
from steerbench.prompts.perturb import build_distill_stress, build_perturbations
from steerbench.prompts.schema import Prompt, PromptMeta
from steerbench.prompts.templates import FRAMES, Frame, Topic
from steerbench.prompts.templates_benign import BENIGN_SENSITIVE, META_SAFETY_FRAMES, BenignPrompt
from steerbench.prompts.topics_harm import HARM_TEST, HARM_TRAIN

# written in this order; the first three are the core sets the harness loads
from steerbench.vocab import PROMPT_FILES as OUTPUT_FILES  # noqa: E402
# share of the non-control benign prompts (the rest of benign.jsonl is one control per harm_test prompt)
BENIGN_SHARES = {"benign_sensitive": 3, "meta_safety": 2}


def build_prompt_sets(
    *, n_train: int = 150, n_test: int = 150, n_benign: int = 200, seed: int = 0
) -> dict[str, tuple[Prompt, ...]]:
    """Every prompt file's records, keyed by file stem (see OUTPUT_FILES)."""
    for flag, value in (("--n-train", n_train), ("--n-test", n_test), ("--n-benign", n_benign)):
        if value < 1:
            raise DataError(f"{flag} must be at least 1, got {value}")
    harm_train = _harm_split("train", n_train, rng_for(seed, "harm_train"))
    harm_test = _harm_split("test", n_test, rng_for(seed, "harm_test"))
    benign = _benign_set(n_benign, harm_test, rng_for(seed, "benign"))
    return {
        "harm_train": harm_train,
        "harm_test": harm_test,
        "benign": benign,
        "perturbations": build_perturbations(harm_test, benign, rng_for(seed, "perturbations")),
        "distill_stress": build_distill_stress(rng_for(seed, "distill_stress")),
    }


def make_prompt_files(
    out_dir: Path, *, n_train: int = 150, n_test: int = 150, n_benign: int = 200, seed: int = 0
) -> dict[str, Path]:
    """Generate and write every prompt file into `out_dir`; returns file stem -> path."""
    sets = build_prompt_sets(n_train=n_train, n_test=n_test, n_benign=n_benign, seed=seed)
    paths = {}
    for name in OUTPUT_FILES:
        paths[name] = Path(out_dir) / f"{name}.jsonl"
        write_jsonl(paths[name], (prompt.to_record() for prompt in sets[name]))
    return paths


def _harm_split(split: str, n: int, rng: random.Random) -> tuple[Prompt, ...]:
    """`n` prompts from the split's own topics x frames, equal family quotas, no pair used twice."""
    quotas = allocate(n, {family: 1 for family in HARM_FAMILIES})
    drafts: list[Prompt] = []
    for family in HARM_FAMILIES:
        pairs = [(topic, frame) for topic in TOPICS[split][family] for frame in FRAMES[split][family]]
        if quotas[family] > len(pairs):
            most = len(HARM_FAMILIES) * min(
                len(TOPICS[split][f]) * len(FRAMES[split][f]) for f in HARM_FAMILIES
            )
            raise DataError(f"--n-{split} {n} is too large: the {split} templates give at most {most} distinct prompts")
        for topic, frame in rng.sample(pairs, quotas[family]):
            meta = generated_meta(
                family=family,
                frame=frame,
                topic=topic,
                risk_level=topic.risk_level,
                expected_behavior=EXPECTED_BEHAVIOR[family],
                slice_name=f"core_{split}",
            )
            drafts.append(Prompt(id="", prompt=frame.render(topic.request), meta=meta))
    rng.shuffle(drafts)
    return with_ids(drafts, f"harm_{split}")


def paired_control(parent: Prompt) -> Prompt:
    """The parent's frame rendered with its topic's control phrase: only the intent changes."""
    meta = dataclasses.replace(
        parent.meta,
        family="benign_control",
        risk_level="none",
        expected_behavior="comply",
        slice="paired_control",
        parent_id=parent.id,
    )
    return Prompt(id="", prompt=frame_of(parent).render(topic_of(parent).control), meta=meta)


def _benign_set(n: int, harm_test: tuple[Prompt, ...], rng: random.Random) -> tuple[Prompt, ...]:
    controls = [paired_control(parent) for parent in harm_test]
    n_other = n - len(controls)
    quotas = allocate(max(n_other, 0), BENIGN_SHARES)
    meta_pairs = [(topic, frame) for topic in HARM_TRAIN + HARM_TEST for frame in META_SAFETY_FRAMES]
    if n_other < 0 or quotas["benign_sensitive"] > len(BENIGN_SENSITIVE) or quotas["meta_safety"] > len(meta_pairs):
        raise DataError(
            f"--n-benign {n} does not fit: benign.jsonl holds one paired control per harm_test prompt "
            f"({len(controls)}) plus up to {len(BENIGN_SENSITIVE)} benign-sensitive and "
            f"{len(meta_pairs)} meta-safety prompts"
        )
    sensitive = [_benign_sensitive(item) for item in rng.sample(BENIGN_SENSITIVE, quotas["benign_sensitive"])]
    reflective = [_meta_safety(topic, frame) for topic, frame in rng.sample(meta_pairs, quotas["meta_safety"])]
    drafts = controls + sensitive + reflective
    rng.shuffle(drafts)
    return with_ids(drafts, "benign")


def _benign_sensitive(item: BenignPrompt) -> Prompt:
    meta = PromptMeta(
        family="benign_sensitive",
        style=item.style,
        category=item.category,
        risk_level=item.risk_level,
        expected_behavior="comply",
        slice="benign_core",
        attack_pattern="none",
        extra=(("template", f"benign.{item.key}"), ("topic", item.key)),
    )
    return Prompt(id="", prompt=item.text, meta=meta)


def _meta_safety(topic: Topic, frame: Frame) -> Prompt:
    meta = generated_meta(
        family="meta_safety",
        frame=frame,
        topic=topic,
        risk_level="none",
        expected_behavior="comply",
        slice_name="benign_core",
    )
    return Prompt(id="", prompt=frame.render(topic.request), meta=meta)
