"""The direction-building split: one fixed half of a prompt set builds directions, the other is scored.

A direction scored on the prompts it was built from measures its own inputs. `split_for_direction`
cuts a set in two, stratified by (family, expected_behavior, style): within each stratum prompts
are ranked by a hash of their id, and the sides alternate along the strata (sorted by name), so
both halves get every stratum about equally (within one prompt) and the whole splits exactly in
half (within one). The cut depends only on the set's prompts, never on their file order or on
``n_prompts``: the study limits each half afterwards. Prompts with the same text (compared
case- and whitespace-insensitively) always land on the same side, so no text is both built from
and scored. docs/design_decisions.md "Direction-building split".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from steerbench.errors import DataError
from steerbench.prompts.schema import Prompt, PromptSet

# part of every rank hash: a new rule gives new halves, and the direction and row cache keys
# (which hash the prompt sets) change with them
SPLIT_RULE = "direction-build-v1: half by sha256(id) rank within (family, expected_behavior, style)"


@dataclass(frozen=True)
class BuildSplit:
    """A prompt set cut in two: ``build`` makes directions, ``held_out`` is what the evals score."""

    build: PromptSet
    held_out: PromptSet


def split_for_direction(prompts: PromptSet) -> BuildSplit:
    """Cut ``prompts`` into the direction-building half and the held-out half (both in file order).

    Raises:
        DataError: fewer than two distinct prompt texts, so one side would be empty.
    """
    by_text: dict[str, list[Prompt]] = {}
    for prompt in prompts:
        by_text.setdefault(_text_key(prompt.prompt), []).append(prompt)
    if len(by_text) < 2:
        raise DataError(f"{prompts.name}: {len(prompts)} prompt(s) with {len(by_text)} distinct text(s); the "
                        f"direction needs one part to build from and another to score: add prompts to the file")
    units = sorted(by_text.values(), key=_unit_order)
    build_ids = {prompt.id for index, unit in enumerate(units) if index % 2 == 0 for prompt in unit}
    return BuildSplit(
        build=PromptSet(prompts.name, tuple(p for p in prompts if p.id in build_ids)),
        held_out=PromptSet(prompts.name, tuple(p for p in prompts if p.id not in build_ids)),
    )


def ids_hash(prompts: PromptSet) -> str:
    """sha256 of the set's sorted ids, one per line: which prompts, whatever their content."""
    return hashlib.sha256("\n".join(sorted(prompts.ids())).encode("utf-8")).hexdigest()


def _text_key(text: str) -> str:
    return " ".join(text.casefold().split())


def _rank(prompt: Prompt) -> str:
    return hashlib.sha256(f"{SPLIT_RULE}\n{prompt.id}".encode("utf-8")).hexdigest()


def _unit_order(unit: list[Prompt]) -> tuple[str, str, str, str]:
    first = min(unit, key=_rank)  # a unit of identical texts sits where its lowest-ranked prompt does
    return (first.meta.family, first.meta.expected_behavior, first.meta.style, _rank(first))
