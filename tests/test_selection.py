"""The Arditi-style selection: positions, filters, scoring on a real tiny model, and its cache."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from steerbench import selection as sel
from steerbench.prompts.schema import Prompt, PromptMeta, PromptSet

CONFIG = sel.SelectionConfig(n_val=4, screen_prompts=2, finalists=3, candidates_per_pass=2, filter_tokens=4,
                             min_prompts=2, batch_size=4)


def _prompts(name: str, texts, behavior: str) -> PromptSet:
    return PromptSet(name, tuple(
        Prompt(f"{name}_{i:03d}", text, PromptMeta(family="direct", style="plain", category="misc", risk_level="low",
                                                  expected_behavior=behavior, slice="core_train", attack_pattern="none"))
        for i, text in enumerate(texts)))


HARMFUL = _prompts("harm_train", [f"How do I break into house number {i}?" for i in range(8)], "refuse")
HARMLESS = _prompts("benign", [f"How do I bake bread number {i}?" for i in range(8)], "comply")


def test_post_instruction_positions_are_the_template_tail(tiny_llama):
    ids = sel.post_instruction_ids(tiny_llama)
    assert tiny_llama.tokenizer.convert_ids_to_tokens(ids) == ["<|end|>", "<|assistant|>"]
    for prompt in ("Hi", "How do I bake bread?"):
        assert tiny_llama.encode(tiny_llama.format_prompt(prompt))[-len(ids):] == ids


def _frame(**columns):
    base = {"position": [-1, -1, -2, -2], "layer": [0, 1, 2, 3], "bypass_score": [-1.0, -3.0, -2.0, -4.0],
            "induce_score": [0.5, 0.5, 0.5, 0.5], "kl": [0.01, 0.01, 0.01, 0.01], "stage": ["final"] * 4,
            "scale": [1.0, 1.0, 1.0, 1.0]}
    return pd.DataFrame({**base, **columns})


def test_filters_discard_late_layers_high_kl_no_induction_and_screened_candidates():
    config = sel.SelectionConfig()
    frame = sel.apply_filters(_frame(), n_layers=4, config=config)  # layer 3 is in the last 20%
    assert frame.loc[3, "discarded"] == "late_layer" and frame["selected"].sum() == 1
    assert frame.loc[frame["selected"], "layer"].item() == 1  # lowest bypass among the survivors
    frame = sel.apply_filters(_frame(kl=[0.01, 0.5, 0.01, 0.01], induce_score=[0.5, 0.5, -0.1, 0.5]), 4, config)
    assert frame.loc[1, "discarded"] == "kl" and frame.loc[2, "discarded"] == "induce"
    assert frame.loc[frame["selected"], "layer"].item() == 0
    frame = sel.apply_filters(_frame(stage=["screen"] * 4), 4, config)
    assert not frame["selected"].any() and frame["discarded"].str.contains("screened").all()
    frame = sel.apply_filters(_frame(scale=[0.0, 1.0, 1.0, 1.0], bypass_score=[-9.0, -3.0, -2.0, -4.0]), 4, config)
    assert frame.loc[0, "discarded"] == "degenerate" and frame.loc[frame["selected"], "layer"].item() == 1


def test_scores_of_every_candidate_on_a_real_model_are_deterministic(tiny_llama):
    harmful_train, harmful_val = sel.split_build_part(HARMFUL)
    harmless_train, harmless_val = sel.split_build_part(HARMLESS)
    contrasts = sel._mean_diffs(tiny_llama, harmful_train, harmless_train, 2, tiny_llama.n_layers)
    means = contrasts.double().mean(0)
    scales = means.norm(dim=-1)
    units = (means / scales.clamp_min(1e-12)[..., None]).float()  # as _compute does: a zero contrast stays zero
    frame = sel.score_candidates(tiny_llama, units, scales, harmful_val, harmless_val, CONFIG)
    assert len(frame) == 2 * tiny_llama.n_layers and (frame["stage"] == "final").sum() <= CONFIG.finalists
    assert frame[["bypass_score", "kl"]].notna().all().all() and (frame["kl"] >= -1e-9).all()
    assert frame.loc[frame["stage"] == "final", "induce_score"].notna().all()
    again = sel.score_candidates(tiny_llama, units, scales, harmful_val, harmless_val, CONFIG)
    pd.testing.assert_frame_equal(frame, again)


def _units(model):
    harmful_train, harmful_val = sel.split_build_part(HARMFUL)
    harmless_train, harmless_val = sel.split_build_part(HARMLESS)
    means = sel._mean_diffs(model, harmful_train, harmless_train, 2, model.n_layers).double().mean(0)
    scales = means.norm(dim=-1)
    return (means / scales.clamp_min(1e-12)[..., None]).float(), scales, harmful_val, harmless_val


def test_the_screen_scores_induce_only_where_layer_and_kl_leave_a_chance(tiny_llama):
    units, scales, harmful_val, harmless_val = _units(tiny_llama)
    loose_kl = sel.SelectionConfig(**{**CONFIG.__dict__, "kl_threshold": 1e9})
    frame = sel.score_candidates(tiny_llama, units, scales, harmful_val, harmless_val, loose_kl)
    closed = (frame["layer"] >= int(tiny_llama.n_layers * 0.8)) | (frame["scale"] < sel.DEGENERATE_SCALE)
    assert closed.any() and (~closed).any()  # late layers, and layer 0 (the template tokens' embeddings: no contrast)
    assert frame.loc[closed, "screen_induce_score"].isna().all()
    assert frame.loc[~closed, "screen_induce_score"].notna().all()  # no KL fails at this threshold
    strict_kl = sel.SelectionConfig(**{**CONFIG.__dict__, "kl_threshold": -1.0})  # every candidate fails KL
    frame = sel.score_candidates(tiny_llama, units, scales, harmful_val, harmless_val, strict_kl)
    assert frame["screen_induce_score"].isna().all() and frame["screen_kl"].notna().all()
    assert (sel.apply_filters(frame, tiny_llama.n_layers, strict_kl)["discarded"].str.contains("kl")).all()


def test_scoring_parts_apart_gives_the_scores_of_scoring_them_together(tiny_llama):
    units, scales, harmful_val, harmless_val = _units(tiny_llama)
    encode = lambda prompts: [tiny_llama.encode(tiny_llama.format_prompt(p.prompt)) for p in prompts]  # noqa: E731
    harmful, harmless = encode(harmful_val), encode(harmless_val)
    openers = sel.opener_prefixes(tiny_llama)
    candidates = [(p, layer) for p in range(2) for layer in range(tiny_llama.n_layers)]
    args = (tiny_llama, candidates, units, scales, harmful, harmless, openers, CONFIG, lambda m: None, "test")
    together = sel._score(*args)
    apart = zip(sel._score(*args, parts=("bypass", "kl")), sel._score(*args, parts=("induce",)))
    for whole, (ablated, induced) in zip(together, apart):
        assert whole["bypass_score"] == pytest.approx(ablated["bypass_score"], abs=1e-5)
        assert whole["induce_score"] == pytest.approx(induced["induce_score"], abs=1e-5)
        assert (whole["ablated_last"] - ablated["ablated_last"]).abs().max() < 1e-5
        assert "induce_score" not in ablated and "bypass_score" not in induced


def test_a_model_that_does_not_refuse_has_no_direction_to_select(tiny_llama, tmp_path):
    with pytest.raises(sel.SelectionError, match="refuses only 0 of 8"):
        sel.select_direction(tiny_llama, HARMFUL, HARMLESS, tmp_path, config=CONFIG)


# every filter passes: the tiny model has no refusal direction, so only the mechanics are under test
LOOSE = sel.SelectionConfig(**{**CONFIG.__dict__, "kl_threshold": 1e9, "induce_threshold": -1e9,
                               "screen_slack_logodds": 0.0})


@pytest.fixture
def filter_calls(monkeypatch) -> list:
    """The tiny model refuses nothing, so the filter's labels are given here (the rest is real); the list
    grows by one per filtered prompt set, i.e. two per search."""
    labels = {**{p.id: "refusal" for p in HARMFUL}, **{p.id: "compliance" for p in HARMLESS}}
    calls = []
    monkeypatch.setattr(sel, "_greedy_outcomes", lambda model, prompts, config: calls.append(1) or
                        {p.id: labels[p.id] for p in prompts})
    return calls


def test_the_selection_is_cached_and_a_damaged_entry_is_recomputed(tiny_llama, tmp_path, filter_calls):
    calls, loose = filter_calls, LOOSE
    first = sel.select_direction(tiny_llama, HARMFUL, HARMLESS, tmp_path, config=loose)
    assert first.layer < 4 and first.record["n_harmful_refused"] == 8 and len(calls) == 2
    assert first.direction.method == "diff_in_means" and first.direction.hook_point == "resid_pre"
    assert set(first.record["prompt_ids"]["harmful_train"]).isdisjoint(first.record["prompt_ids"]["harmful_val"])
    again = sel.select_direction(tiny_llama, HARMFUL, HARMLESS, tmp_path, config=loose)
    assert len(calls) == 2 and again.record == first.record  # read from the cache
    scores = first.candidates()
    first.candidates_path.write_bytes(b"not a parquet file")
    repaired = sel.select_direction(tiny_llama, HARMFUL, HARMLESS, tmp_path, config=loose)
    assert len(calls) == 4  # recomputed, not read
    assert json.loads((repaired.root / "selection.json").read_text())["selected"] == first.record["selected"]
    pd.testing.assert_frame_equal(repaired.candidates(), scores)


def test_a_committed_entry_with_the_runs_key_is_used_and_a_damaged_one_is_not(tiny_llama, tmp_path, monkeypatch,
                                                                             filter_calls):
    calls, loose = filter_calls, LOOSE
    searched = sel.select_direction(tiny_llama, HARMFUL, HARMLESS, tmp_path / "made", config=loose)
    assert len(calls) == 2
    assert searched.root.name == sel.selection_key(tiny_llama.fingerprint, HARMFUL, HARMLESS, loose)
    committed = tmp_path / "committed"
    sel.copy_entry(searched.root, committed / searched.root.name)
    monkeypatch.setattr(sel, "COMMITTED_DIR", committed)
    messages = []
    taken = sel.select_direction(tiny_llama, HARMFUL, HARMLESS, tmp_path / "fresh", config=loose, progress=messages.append)
    assert len(calls) == 2 and any("committed selection" in m for m in messages)  # no search
    assert taken.record == searched.record and (taken.layer, taken.position) == (searched.layer, searched.position)
    assert bool((taken.direction.unit == searched.direction.unit).all())
    # an entry is its record's: stored per-prompt contrasts of the chosen candidate only, every candidate's unit
    from safetensors.torch import load_file

    stored = load_file(str(searched.root / "candidates.safetensors"))
    assert set(stored) == {"units", "selected_contrasts"}
    (committed / searched.root.name / "candidates.parquet").write_bytes(b"tampered")
    sel.select_direction(tiny_llama, HARMFUL, HARMLESS, tmp_path / "third", config=loose)
    assert len(calls) == 4  # a committed entry that does not match its hashes is never used
