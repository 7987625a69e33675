"""Confound statistics from the engine's per-token stats."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steerbench.metrics import confound_stats
from steerbench.metrics.text import distinct_n, longest_repeated_ngram


def test_confound_stats_on_a_loop():
    ids = [5, 6, 7, 5, 6, 7, 5, 6]
    stats = confound_stats(ids, [-0.5] * 8, [1.0] * 8, ended_eos=False)
    assert stats.n_tokens == 8
    assert stats.mean_logprob == -0.5 and stats.mean_entropy == 1.0
    assert stats.distinct_1 == pytest.approx(3 / 8)
    assert stats.distinct_2 == pytest.approx(3 / 7)
    assert stats.longest_repeated_ngram == 5  # "5 6 7 5 6" at positions 0 and 3
    assert stats.ended_eos is False


def test_confound_stats_accepts_arrays_and_returns_plain_numbers():
    stats = confound_stats(np.array([1, 2, 3]), np.array([-1.0, -2.0, -3.0]), np.array([0.1, 0.2, 0.3]), np.bool_(True))
    assert stats.mean_logprob == pytest.approx(-2.0)
    assert type(stats.mean_logprob) is float and type(stats.ended_eos) is bool
    assert stats.longest_repeated_ngram == 0 and stats.distinct_1 == 1.0


def test_empty_completion():
    stats = confound_stats([], [], [], ended_eos=True)
    assert stats.n_tokens == 0 and stats.longest_repeated_ngram == 0
    assert math.isnan(stats.mean_entropy) and math.isnan(stats.mean_logprob) and math.isnan(stats.distinct_1)


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="per-token stats"):
        confound_stats([1, 2], [-1.0], [0.5, 0.5], ended_eos=False)


def _brute_longest_repeat(items):
    best = 0
    for n in range(1, len(items)):
        grams = [tuple(items[i : i + n]) for i in range(len(items) - n + 1)]
        if len(set(grams)) < len(grams):
            best = n
    return best


@settings(deadline=None, max_examples=300)
@given(st.lists(st.integers(0, 4), max_size=40))
def test_longest_repeated_ngram_matches_brute_force(items):
    assert longest_repeated_ngram(items) == _brute_longest_repeat(items)


@settings(deadline=None, max_examples=200)
@given(st.lists(st.integers(0, 50), min_size=1, max_size=80), st.integers(1, 3))
def test_distinct_n_in_unit_interval(items, n):
    value = distinct_n(items, n)
    assert math.isnan(value) if len(items) < n else 0.0 < value <= 1.0
