"""Intervals and verdicts: the statistics every gate in steerbench rests on (DESIGN.md decision 10).

A rate gets a Wilson score interval; a difference of two rates measured on the same prompts gets
Newcombe's paired score interval (``paired_rate_diff``), of two rates on different prompts Newcombe's
unpaired one (``newcombe_diff``); a difference of a continuous metric on the same prompts gets a
seeded paired bootstrap interval (resampling prompt indices, so each resample keeps a prompt's two
measurements together). A gate compares the whole interval with its threshold and
says PASS, FAIL or INCONCLUSIVE.

Everything here is pure: the same inputs and seed give the same interval on every machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from statistics import NormalDist
from typing import Literal, Sequence

import numpy as np

# Caps the size of one block of bootstrap indices (n_resamples x n), so a bootstrap over many
# thousands of prompts streams through memory instead of allocating gigabytes at once.
_MAX_INDEX_BLOCK = 4_000_000


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval.

    Attributes:
        estimate: The point estimate (NaN when there was no data).
        low: Lower bound of the interval.
        high: Upper bound of the interval.
        n: Number of observations (prompts, completions) behind the estimate.
        confidence: Nominal coverage of the interval, e.g. 0.95.
        method: How the interval was computed ("wilson", "paired_bootstrap", "bootstrap").
    """

    estimate: float
    low: float
    high: float
    n: int
    confidence: float = 0.95
    method: str = ""

    @property
    def width(self) -> float:
        """Width of the interval, high - low."""
        return self.high - self.low


class Verdict(str, Enum):
    """Outcome of comparing an interval with a gate threshold."""

    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval for a binomial rate.

    Args:
        successes: Number of successes (e.g. refused completions), 0 <= successes <= n.
        n: Number of trials. With n == 0 the estimate is NaN and the interval is [0, 1].
        confidence: Two-sided confidence level.

    Returns:
        Interval with estimate successes / n, clamped to [0, 1] and always containing the estimate.

    Raises:
        ValueError: If the counts are negative, not integers, or successes > n.
    """
    if int(successes) != successes or int(n) != n:
        raise ValueError(f"successes and n must be integers, got {successes!r} and {n!r}")
    successes, n = int(successes), int(n)
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    z = _z(confidence)
    if n == 0:
        return Interval(math.nan, 0.0, 1.0, 0, confidence, "wilson")
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    margin = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # Clamping guards against rounding at p = 0 or 1; the exact bounds already contain p.
    low = min(max(0.0, center - margin), p)
    high = max(min(1.0, center + margin), p)
    return Interval(p, low, high, n, confidence, "wilson")


def _as_float_array(values: Sequence[float], name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if np.isnan(arr).any():
        bad = int(np.flatnonzero(np.isnan(arr))[0])
        raise ValueError(f"{name} contains NaN (first at index {bad}); drop or impute those prompts first")
    return arr


def _bootstrap_means(values: np.ndarray, seed: int, n_resamples: int, statistic=np.mean) -> np.ndarray:
    """``statistic`` (the mean) of `n_resamples` resamples (with replacement) of `values`, vectorised in blocks."""
    rng = np.random.default_rng(seed)
    n = values.shape[0]
    block = max(1, _MAX_INDEX_BLOCK // n)
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, block):
        stop = min(n_resamples, start + block)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = statistic(values[idx], axis=1)
    return means


def _percentile_interval(
    values: np.ndarray, *, seed: int, n_resamples: int, confidence: float, method: str, statistic=np.mean
) -> Interval:
    _z(confidence)  # validates confidence
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    n = int(values.shape[0])
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, confidence, method)
    estimate = float(statistic(values))
    means = _bootstrap_means(values, seed, n_resamples, statistic)
    alpha = 1.0 - confidence
    low, high = np.quantile(means, [alpha / 2.0, 1.0 - alpha / 2.0])
    return Interval(estimate, float(low), float(high), n, confidence, method)


def paired_bootstrap_diff(
    a: Sequence[float],
    b: Sequence[float],
    *,
    seed: int,
    n_resamples: int = 2000,
    confidence: float = 0.95,
) -> Interval:
    """Seeded paired bootstrap percentile interval for mean(a) - mean(b).

    `a[i]` and `b[i]` are two measurements of the same prompt (e.g. refusal on harm_train vs
    harm_test is *not* paired, but baseline vs steered helpfulness of one benign prompt is).
    Each resample draws prompt indices with replacement and keeps the pairs together.

    Args:
        a: Per-prompt values under the first condition (booleans count as 0/1).
        b: Per-prompt values under the second condition, same length and order as `a`.
        seed: Seed for `numpy.random.default_rng`; the same seed gives the same interval.
        n_resamples: Number of bootstrap resamples.
        confidence: Two-sided confidence level.

    Returns:
        Interval whose estimate is mean(a) - mean(b); NaN bounds when there are no pairs.

    Raises:
        ValueError: If the lengths differ or a value is NaN.
    """
    a_arr = _as_float_array(a, "a")
    b_arr = _as_float_array(b, "b")
    if a_arr.shape != b_arr.shape:
        raise ValueError(f"paired values need equal lengths, got {a_arr.shape[0]} and {b_arr.shape[0]}")
    return _percentile_interval(
        a_arr - b_arr, seed=seed, n_resamples=n_resamples, confidence=confidence, method="paired_bootstrap"
    )


def bootstrap_mean(
    values: Sequence[float], *, seed: int, n_resamples: int = 2000, confidence: float = 0.95
) -> Interval:
    """Seeded bootstrap percentile interval for the mean of `values`.

    Args:
        values: One value per prompt (booleans count as 0/1).
        seed: Seed for `numpy.random.default_rng`.
        n_resamples: Number of bootstrap resamples.
        confidence: Two-sided confidence level.

    Returns:
        Interval whose estimate is the sample mean; NaN bounds when `values` is empty.
    """
    arr = _as_float_array(values, "values")
    return _percentile_interval(
        arr, seed=seed, n_resamples=n_resamples, confidence=confidence, method="bootstrap"
    )


def bootstrap_median(
    values: Sequence[float], *, seed: int, n_resamples: int = 2000, confidence: float = 0.95
) -> Interval:
    """Seeded bootstrap percentile interval for the median of `values` (RD: the median drift)."""
    arr = _as_float_array(values, "values")
    return _percentile_interval(arr, seed=seed, n_resamples=n_resamples, confidence=confidence,
                                method="bootstrap_median", statistic=np.median)


def two_sample_bootstrap_diff(
    a: Sequence[float], b: Sequence[float], *, seed: int, n_resamples: int = 2000, confidence: float = 0.95
) -> Interval:
    """Seeded bootstrap interval for mean(a) - mean(b) when a and b are independent samples.

    Each resample redraws a and b separately (with replacement, each its own size).
    """
    a_arr, b_arr = _as_float_array(a, "a"), _as_float_array(b, "b")
    if a_arr.size == 0 or b_arr.size == 0:
        return Interval(math.nan, math.nan, math.nan, int(a_arr.size + b_arr.size), confidence, "two_sample_bootstrap")
    rng = np.random.default_rng(seed)
    means_a = a_arr[rng.integers(0, a_arr.size, size=(n_resamples, a_arr.size))].mean(axis=1)
    means_b = b_arr[rng.integers(0, b_arr.size, size=(n_resamples, b_arr.size))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means_a - means_b, [tail, 1.0 - tail])
    estimate = float(a_arr.mean() - b_arr.mean())
    return Interval(estimate, float(low), float(high), int(a_arr.size + b_arr.size), confidence, "two_sample_bootstrap")


def newcombe_diff(a_flags: Sequence[bool], b_flags: Sequence[bool], confidence: float = 0.95) -> Interval:
    """Newcombe's hybrid score interval for rate(a) - rate(b) over two independent samples.

    Used where the two rates come from different prompts (the generalization gap: harm_train vs
    harm_test), so no pairing exists; it combines the two Wilson intervals (Newcombe 1998, method 10).
    """
    a = [bool(x) for x in a_flags]
    b = [bool(x) for x in b_flags]
    if not a or not b:
        return Interval(math.nan, math.nan, math.nan, len(a) + len(b), confidence, "newcombe")
    return newcombe_of(wilson_interval(sum(a), len(a), confidence), wilson_interval(sum(b), len(b), confidence))


def paired_rate_diff(a_flags: Sequence[bool], b_flags: Sequence[bool], confidence: float = 0.95) -> Interval:
    """Interval for rate(a) - rate(b) when a[i] and b[i] are two binary outcomes of the same prompt.

    Newcombe's method 10 for paired proportions (Newcombe 1998, Stat. Med. 17:2635): the Wilson
    intervals of the two marginal rates, combined with the phi correlation of the 2x2 table. Unlike a
    percentile bootstrap it does not collapse to [0, 0] when every pair agrees (0/60 vs 0/60 gives
    about [-0.06, 0.06]), and its coverage holds near 0 and 1 (tests/test_stats.py computes it exactly).

    Raises:
        ValueError: the lengths differ.
    """
    a = [bool(x) for x in a_flags]
    b = [bool(x) for x in b_flags]
    if len(a) != len(b):
        raise ValueError(f"paired flags need equal lengths, got {len(a)} and {len(b)}")
    n = len(a)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, confidence, "newcombe_paired")
    both = sum(x and y for x, y in zip(a, b))
    only_a = sum(x and not y for x, y in zip(a, b))
    only_b = sum(y and not x for x, y in zip(a, b))
    return _newcombe_paired(both, only_a, only_b, n - both - only_a - only_b, confidence)


def _newcombe_paired(both: int, only_a: int, only_b: int, neither: int, confidence: float) -> Interval:
    n = both + only_a + only_b + neither
    first = wilson_interval(both + only_a, n, confidence)
    second = wilson_interval(both + only_b, n, confidence)
    p1, p2 = first.estimate, second.estimate
    denominator = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    # Newcombe's phi with his continuity correction for positive association (the uncorrected phi
    # narrows the interval below nominal coverage for small n: 0.928 at n 30, p 0.5, rho 0.5).
    cross = both * neither - only_a * only_b
    if cross > 0:
        cross = max(cross - n / 2, 0.0)
    phi = cross / math.sqrt(denominator) if denominator > 0 else 0.0
    d1, u1 = p1 - first.low, first.high - p1
    d2, u2 = p2 - second.low, second.high - p2
    delta = math.sqrt(max(0.0, d1 * d1 - 2 * phi * d1 * u2 + u2 * u2))
    epsilon = math.sqrt(max(0.0, u1 * u1 - 2 * phi * u1 * d2 + d2 * d2))
    diff = p1 - p2
    return Interval(diff, max(-1.0, diff - delta), min(1.0, diff + epsilon), n, confidence, "newcombe_paired")


def newcombe_of(first: Interval, second: Interval) -> Interval:
    """Newcombe's interval for first - second from the two rates' Wilson intervals (the one
    implementation: the evals, the summary and the figures all call it). n is the total count."""
    d = first.estimate - second.estimate
    low = d - math.hypot(first.estimate - first.low, second.high - second.estimate)
    high = d + math.hypot(first.high - first.estimate, second.estimate - second.low)
    return Interval(d, max(-1.0, low), min(1.0, high), first.n + second.n, first.confidence, "newcombe")


def mover_ratio(first: Interval, second: Interval) -> Interval:
    """Interval for the ratio first / second of two rates from their Wilson intervals (MOVER-R,
    Donner & Zou 2012), e.g. refusal under ablation as a fraction of baseline refusal.

    The rates are treated as independent; for the same prompts measured twice with positively
    correlated outcomes this is conservative (wider). The upper bound is inf when the second
    rate's interval reaches 0. n is the total count.
    """
    p1, l1, u1 = first.estimate, first.low, first.high
    p0, l0, u0 = second.estimate, second.low, second.high
    if any(math.isnan(v) for v in (p1, p0)) or p0 <= 0:
        return Interval(math.nan, math.nan, math.nan, first.n + second.n, first.confidence, "mover_ratio")
    product = p1 * p0
    low_root = max(product ** 2 - l1 * u0 * (2 * p1 - l1) * (2 * p0 - u0), 0.0)
    low = (product - math.sqrt(low_root)) / (u0 * (2 * p0 - u0)) if u0 * (2 * p0 - u0) > 0 else 0.0
    high_denominator = l0 * (2 * p0 - l0)
    high_root = max(product ** 2 - u1 * l0 * (2 * p1 - u1) * (2 * p0 - l0), 0.0)
    high = (product + math.sqrt(high_root)) / high_denominator if high_denominator > 0 else math.inf
    estimate = p1 / p0
    return Interval(estimate, max(0.0, min(low, estimate)), max(high, estimate), first.n + second.n,
                    first.confidence, "mover_ratio")


def verdict(interval: Interval, threshold: float, direction: Literal["max", "min"]) -> Verdict:
    """Judge an interval against a gate threshold; only a confident miss fails.

    Args:
        interval: The metric's interval.
        threshold: The gate's threshold.
        direction: "max" means the metric must be <= threshold (FAIL iff low > threshold, PASS iff
            high <= threshold); "min" means it must be >= threshold (FAIL iff high < threshold,
            PASS iff low >= threshold). Anything else, NaN bounds included, is INCONCLUSIVE.

    Returns:
        The verdict.
    """
    if direction == "max":
        if interval.low > threshold:
            return Verdict.FAIL
        if interval.high <= threshold:
            return Verdict.PASS
        return Verdict.INCONCLUSIVE
    if direction == "min":
        if interval.high < threshold:
            return Verdict.FAIL
        if interval.low >= threshold:
            return Verdict.PASS
        return Verdict.INCONCLUSIVE
    raise ValueError(f"direction must be 'max' or 'min', got {direction!r}")


def gate_p_value(interval: Interval, threshold: float, direction: str) -> float:
    """One-sided p-value of "the metric is on the wrong side of its gate" against "the gate holds".

    Read off the interval itself: its half-width on the side facing the threshold gives a standard
    error (half-width / z), and p = 1 - Phi((distance past the threshold) / se). So p < (1 -
    confidence) / 2 exactly when the verdict is FAIL, for every interval method; for a zero-width
    (exact) value p is 0 past the threshold and 1 otherwise. ``max_abs`` takes the nearer side.
    """
    if direction == "max_abs":
        return min(gate_p_value(interval, threshold, "max"), gate_p_value(interval, -threshold, "min"))
    if direction not in ("max", "min"):
        raise ValueError(f"direction must be 'max', 'min' or 'max_abs', got {direction!r}")
    estimate = interval.estimate
    if any(math.isnan(x) for x in (estimate, interval.low, interval.high, threshold)):
        return math.nan
    past = estimate - threshold if direction == "max" else threshold - estimate
    half = (estimate - interval.low) if direction == "max" else (interval.high - estimate)
    if half <= 0:
        return 0.0 if past > 0 else 1.0
    se = half / _z(interval.confidence)
    return 1.0 - NormalDist().cdf(past / se)


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error); NaN entries are not part of the family."""
    index = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    order = sorted(index, key=lambda i: p_values[i])
    m = len(order)
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg q-values (false discovery rate); NaN entries are not part of the family."""
    index = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    order = sorted(index, key=lambda i: p_values[i])
    m = len(order)
    adjusted = [math.nan] * len(p_values)
    running = 1.0
    for rank in range(m - 1, -1, -1):
        i = order[rank]
        running = min(running, p_values[i] * m / (rank + 1))
        adjusted[i] = min(1.0, running)
    return adjusted
