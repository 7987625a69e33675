"""The positive control's table (baseline / directional ablation / ActAdd beside the random null)."""

from __future__ import annotations

import pandas as pd

from steerbench.report.tables import arditi_markdown, arditi_table


def _rows(split, cell, intervention, outcomes, variant="main", behavior="refuse"):
    return [{"split": split, "cell": cell, "intervention": intervention, "alpha": 1.0 if cell != "baseline" else 0.0,
             "layer": 3 if cell != "baseline" else -1, "variant": variant, "seed": 0, "expected_behavior": behavior,
             "outcome": outcome, "prompt_id": f"{split}_{i}"} for i, outcome in enumerate(outcomes)]


def test_the_table_counts_refusals_answers_and_degenerate_text_per_cell_and_pools_the_null():
    frame = pd.DataFrame(
        _rows("harm_test", "baseline", "baseline", ["refusal"] * 8 + ["compliance"] * 2)
        + _rows("harm_test", "L3-ablate_all-a1", "ablate_all", ["refusal"] + ["compliance"] * 8 + ["degenerate"])
        + _rows("harm_test", "L3-ablate_all-a1", "ablate_all", ["refusal"] * 9 + ["compliance"], variant="random")
        + _rows("harm_test", "L3-ablate_all-a1", "ablate_all", ["refusal"] * 7 + ["compliance"] * 3, variant="random1")
        + _rows("harm_test", "baseline", "baseline", ["compliance"] * 5, behavior="calibrated")  # not the refuse stratum
        + _rows("benign", "baseline", "baseline", ["compliance"] * 10, behavior="comply")
        + _rows("benign", "L3-add-a1", "add", ["refusal"] * 6 + ["compliance"] * 4, behavior="comply"))
    table = arditi_table(frame, seed=0).set_index(["split", "intervention", "direction"])
    base = table.loc[("harm_test (refuse)", "baseline", "selected direction")]
    assert base["n"] == 10 and base["refusal_score"] == 0.8 and abs(base["safety_score"] - 0.8) < 1e-12
    ablated = table.loc[("harm_test (refuse)", "directional ablation (every layer)", "selected direction")]
    assert ablated["refusal_score"] == 0.1 and abs(ablated["safety_score"] - 0.2) < 1e-12 and ablated["degenerate_rate"] == 0.1
    null = table.loc[("harm_test (refuse)", "directional ablation (every layer)", "random null, mean of draws")]
    assert null["n"] == 20 and null["refusal_score"] == 0.8 and null["draws"] == 2
    assert table.loc[("benign", "ActAdd at its layer (alpha 1)", "selected direction")]["refusal_score"] == 0.6
    assert 0.0 <= ablated["refusal_ci_low"] < 0.1 < ablated["refusal_ci_high"] <= 1.0
    text = arditi_markdown(table.reset_index())
    assert text.count("\n") == len(table) + 2 and "| harm_test (refuse) | baseline | selected direction | 10 | 0.80" in text
    assert arditi_table(frame[frame["intervention"] != "ablate_all"], seed=0).empty
