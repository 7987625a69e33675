"""PromptSet behaviour the harness relies on: limit, content hash, loading and its errors."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steerbench.errors import DataError
from steerbench.prompts import Prompt, PromptMeta, PromptSet, load_prompt_file, load_split


def make_prompt(index: int, family: str) -> Prompt:
    meta = PromptMeta(
        family=family,
        style="plain",
        category="theft",
        risk_level="low",
        expected_behavior="refuse",
        slice="core_train",
        attack_pattern="none",
    )
    return Prompt(id=f"p_{index:04d}", prompt=f"prompt number {index}", meta=meta)


families_strategy = st.lists(st.sampled_from(["direct", "dual_use", "borderline", "meta_safety"]), max_size=40)


def prompt_set(families: list[str]) -> PromptSet:
    return PromptSet("toy", tuple(make_prompt(index, family) for index, family in enumerate(families)))


@settings(max_examples=60, deadline=None)
@given(families=families_strategy, n=st.integers(min_value=0, max_value=45))
def test_limit_is_a_stratified_subset_in_file_order(families: list[str], n: int) -> None:
    full = prompt_set(families)
    limited = full.limit(n)
    assert len(limited) == min(n, len(full))
    positions = [full.ids().index(prompt_id) for prompt_id in limited.ids()]
    assert positions == sorted(positions), "limit keeps file order"
    assert limited.ids() == full.limit(n).ids(), "limit is deterministic"
    taken, available = Counter(p.meta.family for p in limited), Counter(families)
    # round robin: a family has at most one more prompt than any other that is not exhausted
    for family, count in taken.items():
        for other, other_count in taken.items():
            if other_count < available[other]:
                assert count <= other_count + 1, (family, other)


@settings(max_examples=40, deadline=None)
@given(families=families_strategy, n=st.integers(min_value=0, max_value=40))
def test_limit_is_prefix_stable(families: list[str], n: int) -> None:
    full = prompt_set(families)
    assert set(full.limit(n).ids()) <= set(full.limit(n + 1).ids())


def test_limit_round_robin_visits_families_in_name_order() -> None:
    full = prompt_set(["direct", "direct", "borderline", "direct", "borderline"])
    # rounds: borderline(p2), direct(p0) | borderline(p4), direct(p1) | direct(p3)
    assert full.limit(1).ids() == ["p_0002"]
    assert full.limit(3).ids() == ["p_0000", "p_0002", "p_0004"]
    assert full.limit(None) is full
    with pytest.raises(ValueError):
        full.limit(-1)


def test_content_hash_depends_on_content_not_name() -> None:
    first = prompt_set(["direct", "borderline"])
    renamed = PromptSet("other", first.prompts)
    assert first.content_hash() == renamed.content_hash()
    changed_meta = PromptSet("toy", (first.prompts[0], make_prompt(1, "direct")))
    assert changed_meta.content_hash() != first.content_hash()
    assert len(first.content_hash()) == 64


def test_meta_round_trips_through_its_json_form() -> None:
    meta = PromptMeta("direct", "slang", "theft", "low", "refuse", "core_test", "none", "es", "harm_test_0001",
                      extra=(("template", "t.x"), ("topic", "y")))
    assert PromptMeta.from_dict(json.loads(json.dumps(meta.to_dict()))) == meta
    assert meta.get("template") == "t.x" and meta.get("missing", "d") == "d"


def test_load_split_reads_the_committed_core_sets() -> None:
    harm_train = load_split("harm_train")
    assert harm_train.name == "harm_train" and len(harm_train) >= 150
    assert isinstance(harm_train.prompts[0], Prompt)
    assert harm_train.texts()[0] == harm_train.prompts[0].prompt


def test_load_split_names_the_available_splits_when_missing(tmp_path: Path) -> None:
    (tmp_path / "mine.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(DataError, match=r"no such prompt split 'nope'.*mine"):
        load_split("nope", data_dir=tmp_path)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "a", "prompt": "x", "meta": {}}', r"bad\.jsonl:2: meta\.family must be a non-empty string"),
        ('{"id": "a b", "prompt": "x", "meta": null}', r"bad\.jsonl:2: id must be"),
        ('{"id": "b", "prompt": "  ", "meta": {}}', r"bad\.jsonl:2: prompt must be a non-empty string"),
        ('{"id": "b", "prompt": "x"', r"bad\.jsonl:2: invalid JSON"),
        ('{"id": "ok_1", "prompt": "x", "meta": {}, "extra": 1}', r"bad\.jsonl:2: unknown key 'extra'"),
    ],
)
def test_load_prompt_file_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    good = json.dumps(make_prompt(1, "direct").to_record())
    path = tmp_path / "bad.jsonl"
    path.write_text(good + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=message):
        load_prompt_file(path)


def test_load_prompt_file_rejects_duplicate_ids(tmp_path: Path) -> None:
    record = json.dumps(make_prompt(1, "direct").to_record())
    path = tmp_path / "dup.jsonl"
    path.write_text(f"{record}\n{record}\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"dup\.jsonl:2: duplicate id 'p_0001' \(first used on line 1\)"):
        load_prompt_file(path)
