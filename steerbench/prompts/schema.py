"""Typed prompt records: the boundary between the prompt files and every later stage.

A prompt file is JSON Lines, one object per line::

    {"id": "harm_train_0001", "prompt": "...", "meta": {"family": ..., "parent_id": null, ...}}

`meta` holds the nine fields of `PromptMeta` plus any extra keys (template id, topic, columns of an
ingested file), which are kept, sorted, in `PromptMeta.extra`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Scalar = str | int | float | bool | None

# meta fields that must be non-empty strings; `parent_id` is optional (null when absent)
REQUIRED_META_FIELDS = (
    "family",
    "style",
    "category",
    "risk_level",
    "expected_behavior",
    "slice",
    "attack_pattern",
    "language",
)
RECORD_KEYS = ("id", "prompt", "meta")


@dataclass(frozen=True)
class PromptMeta:
    """What a prompt is: every enumerated value is defined in data/taxonomy/."""

    family: str  # scenario family (direct, dual_use, benign_control, ...)
    style: str  # phrasing style (plain, slang, story, ...)
    category: str  # harm or topic category (fraud_scams, mental_health, ...)
    risk_level: str  # none | low | medium | high | unknown
    expected_behavior: str  # refuse | comply | calibrated
    slice: str  # which slice of the study it belongs to (core_test, paired_control, ...)
    attack_pattern: str  # how the prompt tries to get around a refusal (none, persona_jailbreak, ...)
    language: str = "en"
    parent_id: str | None = None  # the prompt this one was derived from (controls, perturbations)
    extra: tuple[tuple[str, Scalar], ...] = ()  # other keys, sorted by name

    def get(self, key: str, default: Scalar = None) -> Scalar:
        """Return an extra meta value (e.g. ``meta.get("template")``)."""
        return dict(self.extra).get(key, default)

    def to_dict(self) -> dict[str, Scalar]:
        """The JSON form: the named fields and the extras in one flat mapping."""
        data: dict[str, Scalar] = {name: getattr(self, name) for name in REQUIRED_META_FIELDS}
        data["parent_id"] = self.parent_id
        data.update(self.extra)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PromptMeta:
        """Build from a checked mapping (see `record_problems`); unknown keys become extras."""
        named = {name: data[name] for name in REQUIRED_META_FIELDS}
        extra = tuple(
            sorted((key, value) for key, value in data.items() if key not in named and key != "parent_id")
        )
        return cls(**named, parent_id=data.get("parent_id"), extra=extra)


@dataclass(frozen=True)
class Prompt:
    id: str  # unique within a prompt directory, e.g. "harm_train_0001"
    prompt: str  # the user message, without any chat template
    meta: PromptMeta

    def to_record(self) -> dict[str, Any]:
        return {"id": self.id, "prompt": self.prompt, "meta": self.meta.to_dict()}


@dataclass(frozen=True)
class PromptSet:
    name: str  # "harm_train" | "harm_test" | "benign" | a user split
    prompts: tuple[Prompt, ...]

    def __len__(self) -> int:
        return len(self.prompts)

    def __iter__(self) -> Iterator[Prompt]:
        return iter(self.prompts)

    def texts(self) -> list[str]:
        return [prompt.prompt for prompt in self.prompts]

    def ids(self) -> list[str]:
        return [prompt.id for prompt in self.prompts]

    def content_hash(self) -> str:
        """sha256 of the canonical JSON of ids, prompts and meta (the name is not part of it)."""
        records = [prompt.to_record() for prompt in self.prompts]
        canonical = json.dumps(records, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def limit(self, n: int | None) -> PromptSet:
        """The first `n` prompts of a family-stratified round robin, returned in file order.

        Families are visited in name order, one prompt each per round, each family's prompts in
        file order; an exhausted family drops out. Deterministic, so `limit(n)` is a prefix-stable
        subset: `limit(n)` is contained in `limit(n + 1)`.
        """
        if n is None or n >= len(self.prompts):
            return self
        if n < 0:
            raise ValueError(f"limit must be >= 0 or None, got {n}")
        queues: dict[str, list[int]] = {}
        for index, prompt in enumerate(self.prompts):
            queues.setdefault(prompt.meta.family, []).append(index)
        chosen: list[int] = []
        round_index = 0
        while len(chosen) < n:
            for family in sorted(queues):
                if round_index < len(queues[family]) and len(chosen) < n:
                    chosen.append(queues[family][round_index])
            round_index += 1
        return PromptSet(self.name, tuple(self.prompts[index] for index in sorted(chosen)))


def record_problems(record: Any) -> list[str]:
    """Schema problems of one decoded JSON record, as short messages (empty when valid)."""
    if not isinstance(record, dict):
        return [f"expected a JSON object, got {type(record).__name__}"]
    problems = [f"unknown key {key!r} (allowed: id, prompt, meta)" for key in record if key not in RECORD_KEYS]
    problems += [f"missing key {key!r}" for key in RECORD_KEYS if key not in record]
    record_id, text, meta = record.get("id"), record.get("prompt"), record.get("meta")
    if "id" in record and not _is_clean_id(record_id):
        problems.append(f"id must be a non-empty string without whitespace, got {record_id!r}")
    if "prompt" in record and (not isinstance(text, str) or not text.strip()):
        problems.append("prompt must be a non-empty string")
    if "meta" in record:
        problems += _meta_problems(meta)
    return problems


def prompt_from_record(record: Mapping[str, Any]) -> Prompt:
    """Build a `Prompt` from a record that `record_problems` accepted."""
    return Prompt(id=record["id"], prompt=record["prompt"], meta=PromptMeta.from_dict(record["meta"]))


def _is_clean_id(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and not any(char.isspace() for char in value)


def _meta_problems(meta: Any) -> list[str]:
    if not isinstance(meta, dict):
        return [f"meta must be a JSON object, got {type(meta).__name__}"]
    problems = [
        f"meta.{name} must be a non-empty string"
        for name in REQUIRED_META_FIELDS
        if not isinstance(meta.get(name), str) or not meta.get(name)
    ]
    parent_id = meta.get("parent_id")
    if parent_id is not None and not _is_clean_id(parent_id):
        problems.append(f"meta.parent_id must be null or an id string, got {parent_id!r}")
    problems += [
        f"meta.{key} must be a string, number, boolean or null (nested values are not allowed)"
        for key, value in meta.items()
        if isinstance(value, (dict, list))
    ]
    return problems
