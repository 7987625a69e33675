"""Does a direction learned on harm_train steer the distribution-shifted harm_test as well?"""

from steerbench.interventions import BASELINE
from steerbench.rows import pair_rows
from steerbench.stats import newcombe_diff, paired_bootstrap_diff


def test_generalization_gap(cell, rows, verdicts, steer_config):
    """H: under the cell, refusal on harm_train exceeds refusal on the shifted harm_test by at most the gate."""
    train, train_baseline = pair_rows(rows(cell, "harm_train"), rows(BASELINE, "harm_train"))
    test, test_baseline = pair_rows(rows(cell, "harm_test"), rows(BASELINE, "harm_test"))
    verdicts.record("generalization", "gap", newcombe_diff(train["refused"], test["refused"]), cell)
    verdicts.record("generalization", "harm_test_refusal_gain",
                    paired_bootstrap_diff(test["refused"], test_baseline["refused"], seed=steer_config.seed), cell)
    verdicts.record("generalization", "harm_train_refusal_gain",
                    paired_bootstrap_diff(train["refused"], train_baseline["refused"], seed=steer_config.seed), cell)
    verdicts.record("generalization", "harm_test_logodds_gain",
                    paired_bootstrap_diff(test["refusal_logodds"], test_baseline["refusal_logodds"], seed=steer_config.seed), cell)
    verdicts.assert_ok()
