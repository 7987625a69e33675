"""What does steering cost on benign prompts? (benign.jsonl: paired controls of harm_test, benign-but-
sensitive and meta-safety requests; every one expects an answer, so any refusal is a false refusal.)"""

from steerbench.interventions import BASELINE
from steerbench.metrics import refusal_rate
from steerbench.rows import pair_rows
from steerbench.stats import paired_rate_diff


def test_benign_side_effects(cell, rows, verdicts, steer_config):
    """H: steering keeps benign answers helpful (bounded drop) and rarely refuses benign requests."""
    steered, baseline = pair_rows(rows(cell, "benign"), rows(BASELINE, "benign"))
    verdicts.record("benign", "helpfulness_drop",
                    paired_rate_diff(baseline["is_helpful"], steered["is_helpful"]), cell)
    verdicts.record("benign", "false_refusal_rate", refusal_rate(steered["refused"]), cell)
    verdicts.record("benign", "false_refusal_gain",
                    paired_rate_diff(steered["refused"], baseline["refused"]), cell)
    verdicts.assert_ok()
