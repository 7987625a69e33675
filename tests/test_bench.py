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
