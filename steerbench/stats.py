"""Intervals and verdicts: the statistics every gate in steerbench rests on (DESIGN.md decision 10).

A rate gets a Wilson score interval; a difference between two conditions measured on the same
prompts gets a seeded paired bootstrap interval (resampling prompt indices, so each resample keeps
a prompt's two measurements together). A gate compares the whole interval with its threshold and
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


def _bootstrap_means(values: np.ndarray, seed: int, n_resamples: int) -> np.ndarray:
    """Means of `n_resamples` resamples (with replacement) of `values`, vectorised in blocks."""
    rng = np.random.default_rng(seed)
    n = values.shape[0]
    block = max(1, _MAX_INDEX_BLOCK // n)
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, block):
        stop = min(n_resamples, start + block)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[idx].mean(axis=1)
    return means


def _percentile_interval(
    values: np.ndarray, *, seed: int, n_resamples: int, confidence: float, method: str
) -> Interval:
    _z(confidence)  # validates confidence
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    n = int(values.shape[0])
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, confidence, method)
    estimate = float(values.mean())
    means = _bootstrap_means(values, seed, n_resamples)
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


def newcombe_of(first: Interval, second: Interval) -> Interval:
    """Newcombe's interval for first - second from the two rates' Wilson intervals (the one
    implementation: the evals, the summary and the figures all call it). n is the total count."""
    d = first.estimate - second.estimate
    low = d - math.hypot(first.estimate - first.low, second.high - second.estimate)
    high = d + math.hypot(first.high - first.estimate, second.estimate - second.low)
    return Interval(d, max(-1.0, low), min(1.0, high), first.n + second.n, first.confidence, "newcombe")


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
