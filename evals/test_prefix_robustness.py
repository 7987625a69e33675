"""Does the direction depend on the wording of the forced prefixes it was built from?"""

import pytest

from steerbench.interventions import Cell
from steerbench.rows import pair_rows
from steerbench.stats import Interval, paired_rate_diff


def test_prefix_robustness(layer, study, rows, verdicts, steer_config):
    """H: prefixes with other wording (" Sorry, I can't do that." / " Of course. Here's a step-by-step
    guide:") give nearly the same direction and the same refusal at the robustness alpha."""
    if study.config.direction.method != "contrastive_prefix":
        pytest.skip(f"direction method {study.config.direction.method} is built without forced prefixes")
    main, alt = study.direction(layer, "main"), study.direction(layer, "alt_prefix")
    cosine = main.cosine(alt)
    cell = Cell(layer, "add", steer_config.robustness_alpha)
    verdicts.record("prefix_robustness", "direction_cosine", Interval(cosine, cosine, cosine, main.stats.n_prompts), cell)
    subset = steer_config.rerun_subset
    with_main, with_alt = pair_rows(rows(cell, "harm_test", subset=subset),
                                    rows(cell, "harm_test", subset=subset, variant="alt_prefix"))
    verdicts.record("prefix_robustness", "refusal_diff_alt_vs_main",
                    paired_rate_diff(with_alt["refused"], with_main["refused"]), cell)
    verdicts.assert_ok()
