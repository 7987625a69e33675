"""`steerbench bench`: the three throughputs, measured on a tiny model with a tiny batch."""

from __future__ import annotations

import json
import math

from steerbench.bench import measure
from steerbench.cli import main

KEYS = ("engine_tok_s", "hf_generate_tok_s", "naive_tok_s")


def _hooks_left(bridge) -> int:
    return len({id(p) for p in bridge.hook_dict.values() if p.fwd_hooks or p._forward_hooks})


def test_measure_reports_three_throughputs(tiny_neox):
    result = measure(tiny_neox, batch=2, max_new_tokens=3, layer=1)
    for key in KEYS:
        assert isinstance(result[key], float) and math.isfinite(result[key]) and result[key] > 0, key
    assert math.isclose(result["engine_vs_hf_generate"], result["engine_tok_s"] / result["hf_generate_tok_s"])
    assert (result["batch"], result["max_new_tokens"], result["layer"]) == (2, 3, 1)
    assert json.loads(json.dumps(result)) == result  # plain JSON-able values
    assert _hooks_left(tiny_neox.bridge) == 0


def test_measure_can_skip_the_naive_loop(tiny_llama):
    result = measure(tiny_llama, batch=2, max_new_tokens=2, layer=3, naive=False)
    assert result["naive_tok_s"] is None and result["engine_tok_s"] > 0


def test_cli_json_prints_one_object(tiny_dirs, torch_threads, capsys):
    code = main(["bench", "--model", str(tiny_dirs["gpt_neox"]), "--batch", "2", "--max-new-tokens", "3", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    assert len(out.strip().splitlines()) == 1
    result = json.loads(out)
    assert set(KEYS) <= set(result) and all(result[key] > 0 for key in KEYS)
    assert result["layer"] == 2  # default --layer 0.5 of a 4-layer model


def test_a_study_unit_is_timed_by_stage_against_the_previous_pipeline(tiny_llama, tmp_path):
    from pathlib import Path

    from steerbench.bench_study import STAGES, measure_study_cell, save_figure
    from steerbench.config import load_config
    from steerbench.interventions import Cell
    from steerbench.pipeline import open_study

    repo = Path(__file__).resolve().parents[1]
    overrides = {"profile": "ci", "n_prompts": 6, "generation.max_new_tokens": 4, "generation.batch_size": 4,
                 "layers": "1", "alphas": "0,1", "interventions": "add", "cache_dir": str(tmp_path / "cache")}
    study = open_study(load_config(rootdir=repo, overrides=overrides), rootdir=repo, model=tiny_llama)
    result = measure_study_cell(study, Cell(1, "add", 1.0))
    assert json.loads(json.dumps(result)) == result and result["n_prompts"] == 6
    for pipeline in ("current_s", "previous_s"):
        assert set(result[pipeline]) == set(STAGES)
    assert all(result["current_s"][s] == result["previous_s"][s] for s in ("prefill", "decode", "text_metrics"))
    assert math.isclose(result["current_total_s"], sum(result["current_s"].values()))
    assert math.isclose(result["previous_vs_current"], result["previous_total_s"] / result["current_total_s"])
    assert all(result["current_s"][s] > 0 for s in ("prefill", "fluency", "text_metrics"))  # timed directly
    assert all(result["current_s"][s] >= 0 for s in ("propensity", "decode"))  # differences of two timings
    assert result["previous_s"]["propensity"] > 0 and result["previous_s"]["fluency"] > 0
    figure = save_figure(result, tmp_path / "figs" / "study_cell.png")
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _hooks_left(tiny_llama.bridge) == 0
