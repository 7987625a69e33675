"""Wilson intervals, the paired bootstrap, and gate verdicts (steerbench.stats)."""

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steerbench.stats import (
    Interval,
    Verdict,
    bootstrap_mean,
    newcombe_diff,
    paired_bootstrap_diff,
    verdict,
    wilson_interval,
)


# --- Wilson -------------------------------------------------------------------------------------


def test_wilson_known_values():
    # Reference values (Newcombe 1998 / statsmodels proportion_confint(method="wilson")).
    half = wilson_interval(5, 10)
    assert half.estimate == 0.5
    assert half.low == pytest.approx(0.2366, abs=1e-4)
    assert half.high == pytest.approx(0.7634, abs=1e-4)
    zero = wilson_interval(0, 10)
    assert zero.low == 0.0 and zero.high == pytest.approx(0.2775, abs=1e-4)
    full = wilson_interval(10, 10)
    assert full.high == 1.0 and full.low == pytest.approx(0.7225, abs=1e-4)
    assert half.method == "wilson" and half.n == 10 and half.confidence == 0.95


def test_wilson_empty_is_nan_and_uninformative():
    empty = wilson_interval(0, 0)
    assert math.isnan(empty.estimate)
    assert (empty.low, empty.high, empty.n) == (0.0, 1.0, 0)


def test_wilson_higher_confidence_is_wider():
    assert wilson_interval(7, 20, 0.99).width > wilson_interval(7, 20, 0.95).width


@pytest.mark.parametrize("successes, n", [(-1, 5), (6, 5), (1, -1), (1.5, 3)])
def test_wilson_rejects_bad_counts(successes, n):
    with pytest.raises(ValueError):
        wilson_interval(successes, n)


@settings(deadline=None)
@given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_contains_estimate_within_unit_interval(counts):
    successes, n = counts
    interval = wilson_interval(successes, n)
    assert 0.0 <= interval.low <= interval.estimate <= interval.high <= 1.0


@settings(deadline=None)
@given(st.integers(1, 2000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))), st.integers(2, 10))
def test_wilson_narrows_with_n(counts, factor):
    successes, n = counts
    assert wilson_interval(successes * factor, n * factor).width < wilson_interval(successes, n).width


# --- bootstrap ----------------------------------------------------------------------------------

paired_values = st.integers(1, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(-1e3, 1e3), min_size=n, max_size=n),
        st.lists(st.floats(-1e3, 1e3), min_size=n, max_size=n),
    )
)


@settings(deadline=None, max_examples=50)
@given(paired_values, st.integers(0, 2**32 - 1))
def test_paired_bootstrap_is_reproducible_for_a_seed(pair, seed):
    a, b = pair
    first = paired_bootstrap_diff(a, b, seed=seed, n_resamples=200)
    second = paired_bootstrap_diff(a, b, seed=seed, n_resamples=200)
    assert first == second
    assert first.estimate == pytest.approx(np.mean(a) - np.mean(b), abs=1e-9)
    assert first.low <= first.high


def test_paired_bootstrap_seed_changes_the_resamples():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    assert paired_bootstrap_diff(a, b, seed=1) != paired_bootstrap_diff(a, b, seed=2)


def test_paired_bootstrap_covers_true_difference_at_nominal_rate():
    """Synthetic paired data with a known mean difference: 95% intervals cover it ~95% of the time."""
    rng = np.random.default_rng(20240601)
    true_diff, trials, covered = 0.1, 400, 0
    for trial in range(trials):
        prompt_effect = rng.normal(0.0, 1.0, size=80)  # shared by both conditions: the pairing
        a = prompt_effect + true_diff + rng.normal(0.0, 0.5, size=80)
        b = prompt_effect + rng.normal(0.0, 0.5, size=80)
        interval = paired_bootstrap_diff(a, b, seed=trial, n_resamples=1000)
        covered += interval.low <= true_diff <= interval.high
    coverage = covered / trials
    print(f"paired bootstrap coverage: {coverage:.3f} over {trials} trials (nominal 0.95)")
    assert 0.91 <= coverage <= 0.99


def test_paired_bootstrap_uses_the_pairing():
    # Large between-prompt spread, tiny consistent difference: only a paired interval excludes 0.
    rng = np.random.default_rng(3)
    base = rng.normal(0.0, 10.0, size=100)
    interval = paired_bootstrap_diff(base + 0.5, base, seed=0)
    assert interval.low > 0.4 and interval.high < 0.6


def test_paired_bootstrap_rates_from_booleans():
    refused_before = [True] * 30 + [False] * 70
    refused_after = [True] * 10 + [False] * 90
    interval = paired_bootstrap_diff(refused_before, refused_after, seed=0)
    assert interval.estimate == pytest.approx(0.2)
    assert interval.low > 0.0 and interval.method == "paired_bootstrap"


def test_paired_bootstrap_is_fast():
    rng = np.random.default_rng(0)
    a, b = rng.random(150), rng.random(150)
    start = time.perf_counter()
    paired_bootstrap_diff(a, b, seed=0, n_resamples=2000)
    elapsed = time.perf_counter() - start
    print(f"2000-resample paired bootstrap over 150 prompts: {elapsed * 1000:.1f} ms")
    assert elapsed < 0.5


def test_bootstrap_streams_large_inputs():
    values = np.arange(20_000) % 2
    interval = bootstrap_mean(values, seed=0, n_resamples=500)
    assert interval.low < 0.5 < interval.high and interval.n == 20_000


def test_bootstrap_edge_cases():
    empty = paired_bootstrap_diff([], [], seed=0)
    assert math.isnan(empty.estimate) and math.isnan(empty.low) and empty.n == 0
    single = bootstrap_mean([3.0], seed=0)
    assert (single.estimate, single.low, single.high) == (3.0, 3.0, 3.0)
    with pytest.raises(ValueError, match="equal lengths"):
        paired_bootstrap_diff([1, 2], [1], seed=0)
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_mean([1.0, float("nan")], seed=0)


# --- verdicts -----------------------------------------------------------------------------------


def _iv(low, high):
    return Interval((low + high) / 2, low, high, 100)


@pytest.mark.parametrize(
    "low, high, direction, expected",
    [
        (0.06, 0.09, "max", Verdict.FAIL),  # whole interval above a max threshold
        (0.01, 0.05, "max", Verdict.PASS),  # high == threshold passes
        (0.03, 0.08, "max", Verdict.INCONCLUSIVE),
        (0.01, 0.04, "min", Verdict.FAIL),  # whole interval below a min threshold
        (0.05, 0.09, "min", Verdict.PASS),  # low == threshold passes
        (0.03, 0.08, "min", Verdict.INCONCLUSIVE),
    ],
)
def test_verdict_table(low, high, direction, expected):
    assert verdict(_iv(low, high), 0.05, direction) is expected


def test_verdict_nan_is_inconclusive_and_values_are_strings():
    nan = float("nan")
    assert verdict(Interval(nan, nan, nan, 0), 0.5, "max") is Verdict.INCONCLUSIVE
    assert Verdict.PASS == "PASS" and Verdict.FAIL.value == "FAIL"
    with pytest.raises(ValueError):
        verdict(_iv(0, 1), 0.5, "below")


@settings(deadline=None, max_examples=100)
@given(st.integers(0, 60), st.integers(1, 60), st.integers(0, 60), st.integers(1, 60))
def test_newcombe_contains_estimate_and_stays_in_range(sa, na, sb, nb):
    from steerbench.stats import newcombe_diff

    sa, sb = min(sa, na), min(sb, nb)
    interval = newcombe_diff([True] * sa + [False] * (na - sa), [True] * sb + [False] * (nb - sb))
    assert -1.0 <= interval.low <= interval.estimate <= interval.high <= 1.0
    assert interval.estimate == pytest.approx(sa / na - sb / nb)


def test_newcombe_matches_published_example():
    # Newcombe (1998) table II, example (a): 56/70 vs 48/80 -> 0.2000 (0.0524, 0.3339)
    from steerbench.stats import newcombe_diff

    interval = newcombe_diff([True] * 56 + [False] * 14, [True] * 48 + [False] * 32)
    assert interval.low == pytest.approx(0.0524, abs=5e-4)
    assert interval.high == pytest.approx(0.3339, abs=5e-4)


def test_the_figures_and_the_evals_show_the_same_gap_interval():
    """One Newcombe implementation: the gap from flags (evals) equals the gap from the two rates'
    Wilson intervals (figures, summary)."""
    from steerbench.stats import newcombe_diff, newcombe_of, wilson_interval

    train, test = [True] * 9 + [False] * 51, [True] * 2 + [False] * 58
    from_flags = newcombe_diff(train, test)
    from_rates = newcombe_of(wilson_interval(9, 60), wilson_interval(2, 60))
    assert (from_flags.estimate, from_flags.low, from_flags.high, from_flags.n) == (
        from_rates.estimate, from_rates.low, from_rates.high, from_rates.n)


def _paired_tables(n: int):
    """Every 2x2 table (both, only_a, only_b, neither) of n pairs."""
    for both in range(n + 1):
        for only_a in range(n + 1 - both):
            for only_b in range(n + 1 - both - only_a):
                yield both, only_a, only_b, n - both - only_a - only_b


def _exact_coverage(n: int, p1: float, p2: float, rho: float) -> float:
    """P(interval covers p1 - p2) under a multinomial of n pairs, summed over every table exactly."""
    from scipy.stats import multinomial

    from steerbench.stats import _newcombe_paired

    p11 = p1 * p2 + rho * math.sqrt(p1 * (1 - p1) * p2 * (1 - p2))
    p11 = min(max(p11, max(0.0, p1 + p2 - 1)), min(p1, p2))  # the strongest feasible association
    probs = [p11, p1 - p11, p2 - p11, 1 - p1 - p2 + p11]
    tables = list(_paired_tables(n))
    pmf = multinomial.pmf(np.array(tables), n, probs)
    covered = np.array([(i := _newcombe_paired(*t, 0.95)).low <= p1 - p2 <= i.high for t in tables])
    return float(pmf[covered].sum())


@pytest.mark.parametrize("n", [30, 60])
@pytest.mark.parametrize("p", [0.02, 0.5, 0.98])
@pytest.mark.parametrize("rho", [0.0, 0.5])
def test_paired_rate_interval_covers_at_the_nominal_rate_near_0_and_1(n, p, rho):
    """Exact coverage (every table enumerated) of the 95% paired interval, equal and unequal rates."""
    assert _exact_coverage(n, p, p, rho) >= 0.93
    q = min(0.99, p + 0.1) if p < 0.5 else max(0.01, p - 0.1)
    assert _exact_coverage(n, p, q, rho) >= 0.93


def test_paired_rate_interval_does_not_collapse_when_every_pair_agrees():
    from steerbench.stats import paired_rate_diff

    for flag in (False, True):
        interval = paired_rate_diff([flag] * 60, [flag] * 60)
        assert interval.estimate == 0.0 and interval.low < -0.03 and interval.high > 0.03
        assert interval.method == "newcombe_paired" and interval.n == 60
    # the bootstrap it replaces collapses there
    boot = paired_bootstrap_diff([0] * 60, [0] * 60, seed=0)
    assert boot.low == boot.high == 0.0


@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=80))
def test_paired_rate_interval_contains_its_estimate_and_is_antisymmetric(pairs):
    from steerbench.stats import paired_rate_diff

    a, b = [x for x, _ in pairs], [y for _, y in pairs]
    forward, backward = paired_rate_diff(a, b), paired_rate_diff(b, a)
    assert -1.0 <= forward.low <= forward.estimate <= forward.high <= 1.0
    assert forward.estimate == pytest.approx(sum(a) / len(a) - sum(b) / len(b))
    assert forward.low == pytest.approx(-backward.high) and forward.high == pytest.approx(-backward.low)
    assert forward.width > 0


def test_paired_rate_interval_uses_the_pairing():
    """Concordant pairs (phi > 0) give a narrower interval than the same margins unpaired."""
    from steerbench.stats import paired_rate_diff

    a = [True] * 30 + [False] * 30
    b = [True] * 25 + [False] * 35  # b refuses only where a does
    assert paired_rate_diff(a, b).width < newcombe_diff(a, b).width


@given(st.floats(-2, 2), st.floats(0, 1), st.floats(0, 1), st.floats(-2, 2), st.sampled_from(["max", "min", "max_abs"]))
def test_gate_p_value_agrees_with_the_verdict(estimate, below, above, threshold, direction):
    """p < 0.025 exactly when the 95% interval's verdict is FAIL (the interval is wholly past the gate)."""
    from steerbench.gates import Gate, Gates
    from steerbench.stats import gate_p_value

    interval = Interval(estimate, estimate - below, estimate + above, 30)
    threshold = abs(threshold) if direction == "max_abs" else threshold
    _, _, judged = Gates((Gate("benign", "m", threshold, direction),)).judge("benign", "m", interval)
    p = gate_p_value(interval, threshold, direction)
    assert 0.0 <= p <= 1.0
    distances = [abs(interval.low - threshold), abs(interval.high - threshold), abs(interval.low + threshold),
                 abs(interval.high + threshold)]
    if min(distances) > 1e-9:  # away from the boundary, where rounding decides
        assert (p < 0.025) == (judged == Verdict.FAIL)


def test_holm_and_bh_known_values_and_nan_passthrough():
    from steerbench.stats import benjamini_hochberg, holm_adjust

    p = [0.01, 0.04, math.nan, 0.03, 0.2]
    assert holm_adjust(p)[:2] == pytest.approx([0.04, 0.09]) and math.isnan(holm_adjust(p)[2])
    assert holm_adjust(p)[3:] == pytest.approx([0.09, 0.2])
    assert benjamini_hochberg(p)[0] == pytest.approx(0.04) and benjamini_hochberg(p)[1] == pytest.approx(0.04 * 4 / 3)
    assert benjamini_hochberg(p)[3] == pytest.approx(0.04 * 4 / 3) and benjamini_hochberg(p)[4] == pytest.approx(0.2)


@given(st.lists(st.floats(0, 1), min_size=1, max_size=40))
def test_adjusted_p_values_are_monotone_and_no_smaller_than_raw(p):
    from steerbench.stats import benjamini_hochberg, holm_adjust

    for adjusted in (holm_adjust(p), benjamini_hochberg(p)):
        assert all(a >= r - 1e-12 and a <= 1.0 for a, r in zip(adjusted, p))
        order = sorted(range(len(p)), key=lambda i: p[i])
        assert all(adjusted[order[k]] <= adjusted[order[k + 1]] + 1e-12 for k in range(len(p) - 1))
    assert all(h >= q - 1e-12 for h, q in zip(holm_adjust(p), benjamini_hochberg(p)))


@settings(deadline=None, max_examples=200)
@given(st.integers(1, 60), st.integers(1, 60), st.data())
def test_mover_ratio_contains_the_ratio_and_holds_at_zero(n1, n0, data):
    from steerbench.stats import mover_ratio

    k1, k0 = data.draw(st.integers(0, n1)), data.draw(st.integers(1, n0))
    ratio = mover_ratio(wilson_interval(k1, n1), wilson_interval(k0, n0))
    assert 0.0 <= ratio.low <= ratio.estimate <= ratio.high
    assert abs(ratio.estimate - (k1 / n1) / (k0 / n0)) < 1e-12
    if k1 == 0:
        assert ratio.low == 0.0 and ratio.high > 0.0  # an empty numerator does not collapse the interval


def test_mover_ratio_of_equal_rates_straddles_one_and_narrows_with_n():
    from steerbench.stats import mover_ratio

    small, large = (mover_ratio(wilson_interval(k, n), wilson_interval(k, n)) for k, n in ((15, 30), (150, 300)))
    assert small.low < 1.0 < small.high and large.low < 1.0 < large.high
    assert large.high - large.low < small.high - small.low
