"""Are the measured effects a property of the direction, or of one draw of sampling noise?"""

from steerbench.rows import pair_rows
from steerbench.stats import paired_rate_diff


def test_seed_robustness(robustness_cell, rows, verdicts, steer_config):
    """H: re-sampling the rerun subset with the alternative seed changes refusal by at most the gate."""
    subset = steer_config.rerun_subset
    main, alt = pair_rows(rows(robustness_cell, "harm_test", subset=subset),
                          rows(robustness_cell, "harm_test", subset=subset, seed=steer_config.alt_seed))
    verdicts.record("seed_robustness", "seed_refusal_diff",
                    paired_rate_diff(alt["refused"], main["refused"]), robustness_cell)
    verdicts.record("seed_robustness", "seed_degenerate_diff",
                    paired_rate_diff(alt["outcome"] == "degenerate", main["outcome"] == "degenerate"), robustness_cell)
    verdicts.assert_ok()
