"""The prompts that build a direction are never the prompts that score it.

harm_train (and benign, for diff_in_means) is cut once, by prompt-id hash within
(family, expected_behavior, style), into a direction-building half and a held-out half; the evals
see only the held-out half. docs/design_decisions.md "Direction-building split".
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

import steerbench.pipeline
from steerbench.config import load_config
from steerbench.errors import DataError
from steerbench.interventions import BASELINE
from steerbench.pipeline import CORE_SPLITS, describe, open_study
from steerbench.prompts import PromptSet, load_split
from steerbench.prompts.holdout import SPLIT_RULE, ids_hash, split_for_direction
from steerbench.prompts.study import study_prompts

REPO = Path(__file__).resolve().parents[1]


def _normalized(text: str) -> str:
    return " ".join(text.casefold().split())


def _stratum(prompt) -> tuple[str, str, str]:
    return (prompt.meta.family, prompt.meta.expected_behavior, prompt.meta.style)


@pytest.mark.parametrize("split", ["harm_train", "benign"])
def test_the_cut_is_an_even_stratified_partition_independent_of_file_order(split):
    prompts = load_split(split)
    cut = split_for_direction(prompts)
    assert sorted(cut.build.ids() + cut.held_out.ids()) == sorted(prompts.ids())
    assert abs(len(cut.build) - len(cut.held_out)) <= 1
    build, held_out = Counter(map(_stratum, cut.build)), Counter(map(_stratum, cut.held_out))
    assert all(abs(build[s] - held_out[s]) <= 1 for s in set(build) | set(held_out))
    shuffled = list(prompts)
    random.Random(7).shuffle(shuffled)
    again = split_for_direction(PromptSet(split, tuple(shuffled)))
    assert set(again.build.ids()) == set(cut.build.ids())
    assert cut.build.ids() == [p.id for p in prompts if p.id in set(cut.build.ids())]  # file order kept


def test_identical_texts_land_on_the_same_side():
    base = list(load_split("harm_train").limit(20))
    twins = [type(p)(id=f"{p.id}_twin", prompt=f"  {p.prompt.upper()} ", meta=p.meta) for p in base]
    cut = split_for_direction(PromptSet("harm_train", tuple(base + twins)))
    built = {_normalized(p.prompt) for p in cut.build}
    assert built and not built & {_normalized(p.prompt) for p in cut.held_out}


def test_a_set_that_cannot_be_cut_is_a_clear_error():
    one = PromptSet("harm_train", tuple(load_split("harm_train").limit(1)))
    with pytest.raises(DataError, match="one part to build from and another to score"):
        split_for_direction(one)


def test_n_prompts_limits_the_scored_half_and_leaves_the_build_half_as_configured():
    small = study_prompts(load_config(rootdir=REPO, overrides={"n_prompts": "12"}), REPO)
    everything = study_prompts(load_config(rootdir=REPO, overrides={"n_prompts": "all"}), REPO)
    assert small.build["harm_train"].ids() == everything.build["harm_train"].ids()  # same build half
    assert len(small.build["harm_train"]) == len(load_split("harm_train")) // 2
    assert set(small.scored["harm_train"].ids()) <= set(everything.scored["harm_train"].ids())
    assert len(small.scored["harm_train"]) == 12
    capped = study_prompts(load_config(rootdir=REPO, overrides={"direction.n_build_prompts": 10}), REPO)
    assert len(capped.build["harm_train"]) == 10 and set(capped.build["harm_train"].ids()) <= set(small.build["harm_train"].ids())


def _study(model, cache: Path, method: str = "contrastive_prefix", n_prompts: str = "all"):
    overrides = {"profile": "ci", "n_prompts": n_prompts, "generation.max_new_tokens": 2, "generation.batch_size": 8,
                 "layers": "1", "alphas": "0,1", "interventions": "add", "cache_dir": str(cache),
                 "direction.method": method, "direction.position": "prefix_mean"}
    return open_study(load_config(rootdir=REPO, overrides=overrides), rootdir=REPO, model=model)


@pytest.mark.parametrize("method", ["contrastive_prefix", "diff_in_means"])
def test_no_prompt_that_builds_a_direction_is_scored(tiny_neox, tmp_path, monkeypatch, method):
    """The guide's rule: train and eval prompt sets never overlap, by id or by text, in any scored split."""
    seen = {}
    real_build = steerbench.pipeline.build_directions

    def spy(model, prompts, layers, **kwargs):
        seen["harm"], seen["benign"] = list(prompts), list(kwargs.get("benign_prompts", ()))
        return real_build(model, prompts, layers, **kwargs)

    monkeypatch.setattr(steerbench.pipeline, "build_directions", spy)
    study = _study(tiny_neox, tmp_path, method)
    direction = study.direction(1)

    build_sets = study.build_sets
    assert seen["harm"] == build_sets["harm_train"].texts()
    assert seen["benign"] == (build_sets["benign"].texts() if method == "diff_in_means" else [])
    built_ids = {i for s in build_sets.values() for i in s.ids()}
    built_texts = {_normalized(t) for t in seen["harm"] + seen["benign"]}
    for split in CORE_SPLITS:
        scored = study.splits[split]
        assert len(scored) > 0
        assert not built_ids & set(scored.ids()), f"{split} scores a prompt that built the direction"
        assert not built_texts & {_normalized(t) for t in scored.texts()}, f"{split} scores a building text"
    assert direction.provenance["prompt_ids_hash"] == ids_hash(build_sets["harm_train"])
    assert direction.provenance["n_build_prompts"] == len(build_sets["harm_train"]) == len(seen["harm"])
    assert direction.provenance["build_split_rule"] == SPLIT_RULE
    benign_hash = direction.provenance["benign_prompt_ids_hash"]
    assert benign_hash == ids_hash(build_sets["benign"])  # benign is cut for every method (the selection reads it)
    assert "benign" in build_sets and not set(build_sets["benign"].ids()) & set(study.splits["benign"].ids())


def test_scored_rows_and_run_info_name_the_held_out_half(tiny_neox, tmp_path):
    study = _study(tiny_neox, tmp_path, n_prompts="4")
    rows = study.rows(BASELINE, "harm_train")
    assert list(rows["prompt_id"]) == study.splits["harm_train"].ids()
    assert not set(rows["prompt_id"]) & set(study.build_sets["harm_train"].ids())
    info = describe(study)
    built = info["direction_build_prompts"]
    assert built["n_build_prompts"] == len(load_split("harm_train")) // 2
    assert built["benign_n_build_prompts"] == len(load_split("benign")) // 2
    assert built["prompt_ids_hash"] == ids_hash(study.build_sets["harm_train"])
    files = info["prompt_sets"]["harm_train"]
    assert files["path"] == str(REPO / "data" / "prompts" / "harm_train.jsonl") and len(files["sha256"]) == 64


def test_direction_cache_keys_follow_the_build_prompts_not_n_prompts(tiny_neox, tmp_path):
    key = lambda study: study._direction_key(1, " a", " b")  # noqa: E731
    assert key(_study(tiny_neox, tmp_path, n_prompts="4")) == key(_study(tiny_neox, tmp_path, n_prompts="all"))
    capped = open_study(load_config(rootdir=REPO, overrides={"direction.n_build_prompts": 10, "cache_dir": str(tmp_path)}),
                        rootdir=REPO, model=tiny_neox)
    assert key(capped) != key(_study(tiny_neox, tmp_path))
