"""Refusal rate, RRR / CE and outcome rates with Wilson intervals."""

import math

import pytest

from steerbench.metrics import outcome_rates, refusal_rate, rrr_ce
from steerbench.stats import wilson_interval


def test_refusal_rate_is_wilson():
    flags = [True] * 3 + [False] * 7
    assert refusal_rate(flags) == wilson_interval(3, 10)


def test_rrr_and_ce_mirror_each_other():
    rrr, ce = rrr_ce([True] * 12 + [False] * 28)
    assert rrr.estimate == pytest.approx(0.3) and ce.estimate == pytest.approx(0.7)
    assert ce.low == pytest.approx(1 - rrr.high) and ce.high == pytest.approx(1 - rrr.low)
    assert rrr.n == ce.n == 40


def test_rates_with_no_completions():
    rrr, ce = rrr_ce([])
    assert math.isnan(rrr.estimate) and math.isnan(ce.estimate)
    assert (ce.low, ce.high) == (0.0, 1.0)


def test_outcome_rates_cover_all_three():
    rates = outcome_rates(["refusal", "compliance", "degenerate", "degenerate"])
    assert rates.n == 4
    assert (rates.refusal.estimate, rates.compliance.estimate, rates.degenerate.estimate) == (0.25, 0.25, 0.5)
    with pytest.raises(ValueError, match="unknown outcome"):
        outcome_rates(["refused"])
