"""Confounds of a steering effect: length, uncertainty, log-prob, repetition, stopping.

A direction that "reduces refusal" by making the model ramble, loop or stop early has not changed
its mind. These per-completion statistics come from the generation engine's per-token stats
(`Generation.token_logprobs`, `token_entropies`), so they cost nothing extra to record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from steerbench.metrics.text import distinct_n, longest_repeated_ngram


@dataclass(frozen=True)
class ConfoundStats:
    """Per-completion confound statistics.

    Attributes:
        n_tokens: Number of generated tokens (EOS included when the engine returns it).
        mean_entropy: Mean over tokens of the sampling distribution's entropy (nats); NaN if empty.
        mean_logprob: Mean over tokens of the sampled token's log-prob (natural log); NaN if empty.
        distinct_1: Distinct unigrams / unigrams over token ids; NaN with no tokens.
        distinct_2: Distinct bigrams / bigrams over token ids; NaN with fewer than two tokens.
        longest_repeated_ngram: Length of the longest token n-gram occurring at least twice
            (occurrences may overlap); 0 when no token repeats.
        ended_eos: The completion stopped at end-of-sequence rather than at the token limit.
    """

    n_tokens: int
    mean_entropy: float
    mean_logprob: float
    distinct_1: float
    distinct_2: float
    longest_repeated_ngram: int
    ended_eos: bool


def _mean(values: Sequence[float]) -> float:
    return math.fsum(map(float, values)) / len(values) if len(values) else math.nan


def confound_stats(
    token_ids: Sequence[int],
    token_logprobs: Sequence[float],
    token_entropies: Sequence[float],
    ended_eos: bool,
) -> ConfoundStats:
    """Compute confound statistics for one completion.

    Args:
        token_ids: Generated token ids (lists, tuples, numpy or torch 1-D arrays).
        token_logprobs: Log-prob of each generated token under the sampling distribution.
        token_entropies: Entropy of each step's sampling distribution.
        ended_eos: Whether generation stopped at EOS.

    Returns:
        ConfoundStats with plain Python numbers (safe to record through xdist).

    Raises:
        ValueError: If the per-token sequences differ in length from `token_ids`.
    """
    ids = [int(t) for t in token_ids]
    if len(token_logprobs) != len(ids) or len(token_entropies) != len(ids):
        raise ValueError(
            f"per-token stats must match token_ids: {len(ids)} ids, "
            f"{len(token_logprobs)} logprobs, {len(token_entropies)} entropies"
        )
    return ConfoundStats(
        n_tokens=len(ids),
        mean_entropy=_mean(token_entropies),
        mean_logprob=_mean(token_logprobs),
        distinct_1=distinct_n(ids, 1),
        distinct_2=distinct_n(ids, 2),
        longest_repeated_ngram=longest_repeated_ngram(ids),
        ended_eos=bool(ended_eos),
    )
