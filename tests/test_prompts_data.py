"""The committed prompt data: reproducible, valid, linked, shifted, and large enough."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from steerbench.prompts import load_split
from steerbench.prompts.load import DEFAULT_DATA_DIR
from steerbench.prompts.make import OUTPUT_FILES
from steerbench.prompts.shift import format_shift_report, shift_report
from steerbench.prompts.taxonomy import load_taxonomy
from steerbench.prompts.validate import CORE_MIN_SIZES, MIN_PER_FAMILY, validate_path


@pytest.fixture(scope="module")
def splits():
    return {name: load_split(name) for name in OUTPUT_FILES}


def test_make_regenerates_the_committed_files_byte_for_byte(cli, tmp_path: Path) -> None:
    args = ["prompts", "make", "--out-dir", str(tmp_path), "--n-train", "150", "--n-test", "150",
            "--n-benign", "200", "--seed", "0"]
    assert cli(args) == 0
    for name in OUTPUT_FILES:
        regenerated = (tmp_path / f"{name}.jsonl").read_bytes()
        assert regenerated == (DEFAULT_DATA_DIR / f"{name}.jsonl").read_bytes(), f"{name}.jsonl differs"


def test_another_seed_gives_other_prompts(cli, tmp_path: Path) -> None:
    assert cli(["prompts", "make", "--out-dir", str(tmp_path), "--seed", "1"]) == 0
    assert (tmp_path / "harm_train.jsonl").read_bytes() != (DEFAULT_DATA_DIR / "harm_train.jsonl").read_bytes()
    assert validate_path(tmp_path).ok


def test_make_rejects_sizes_the_templates_cannot_fill(cli, capsys, tmp_path: Path) -> None:
    assert cli(["prompts", "make", "--out-dir", str(tmp_path), "--n-train", "5000"]) == 2
    assert "--n-train 5000 is too large" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_committed_data_validates() -> None:
    result = validate_path(DEFAULT_DATA_DIR)
    assert result.problems == ()


def test_every_meta_value_is_in_the_taxonomy(splits) -> None:
    taxonomy = load_taxonomy()
    for prompt_set in splits.values():
        for prompt in prompt_set:
            assert taxonomy.meta_problems(prompt.meta) == [], prompt.id


def test_ids_are_unique_across_all_files(splits) -> None:
    ids = [prompt_id for prompt_set in splits.values() for prompt_id in prompt_set.ids()]
    assert len(ids) == len(set(ids))


def test_sizes_and_family_minimums(splits) -> None:
    for name, minimum in CORE_MIN_SIZES.items():
        assert len(splits[name]) >= minimum
    core_families = Counter(p.meta.family for name in CORE_MIN_SIZES for p in splits[name])
    required = set(load_taxonomy().allowed("family")) - {"external"}
    assert {family: core_families[family] for family in required if core_families[family] < MIN_PER_FAMILY} == {}
    for name in ("harm_train", "harm_test"):  # each harmful-side family is in both train and test
        assert min(Counter(p.meta.family for p in splits[name]).values()) >= MIN_PER_FAMILY


def test_parent_links_resolve(splits) -> None:
    by_id = {prompt.id: prompt for prompt_set in splits.values() for prompt in prompt_set}
    for prompt in by_id.values():
        assert prompt.meta.parent_id is None or prompt.meta.parent_id in by_id, prompt.id


def test_every_harm_test_prompt_has_a_minimal_edit_control(splits) -> None:
    controls = {p.meta.parent_id: p for p in splits["benign"] if p.meta.slice == "paired_control"}
    assert set(controls) == set(splits["harm_test"].ids())
    for parent in splits["harm_test"]:
        control = controls[parent.id]
        assert control.meta.expected_behavior == "comply" and control.prompt != parent.prompt
        # same frame and topic: only the intent changed
        for key in ("template", "topic"):
            assert control.meta.get(key) == parent.meta.get(key)
        assert (control.meta.style, control.meta.category) == (parent.meta.style, parent.meta.category)


def test_train_and_test_share_no_template_or_topic_and_overlap_less(splits) -> None:
    report = shift_report(splits["harm_train"], splits["harm_test"])
    assert report.templates.shared == 0 and report.topics.shared == 0
    assert 0 < report.subfamilies.shared < report.subfamilies.test  # partly held-out sub-families
    for n, shifted, reference, _ in report.ngram_jaccard:
        assert shifted < reference / 2, f"{n}-gram overlap is not clearly lower across the shift"
    test_styles = {p.meta.style for p in splits["harm_test"]}
    assert {"slang", "story", "hypothetical", "persona"} <= test_styles


def test_perturbation_and_distill_slices(splits) -> None:
    perturbations = splits["perturbations"]
    slices = Counter(p.meta.slice for p in perturbations)
    assert set(slices) == {"perturb_paraphrase", "perturb_tone", "perturb_order", "perturb_language"}
    assert min(slices.values()) >= 5
    languages = Counter(p.meta.language for p in perturbations if p.meta.slice == "perturb_language")
    assert len([lang for lang, count in languages.items() if lang != "en" and count >= 5]) >= 2
    assert all(p.meta.parent_id for p in perturbations)
    distill = splits["distill_stress"]
    patterns = {p.meta.attack_pattern for p in distill}
    assert {"teacher_reference", "instruction_conflation", "distillation_narrative"} <= patterns


def test_readme_shift_figures_match_the_data(splits) -> None:
    readme = (DEFAULT_DATA_DIR / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- shift-report:start -->\n```text\n(.*?)\n```\n<!-- shift-report:end -->", readme, re.S)
    assert match, "data/prompts/README.md lost its shift-report block"
    expected = format_shift_report(shift_report(splits["harm_train"], splits["harm_test"]))
    assert match.group(1) == expected, "update data/prompts/README.md from `steerbench prompts validate`"
