"""Per-completion metrics: refusal, helpfulness, confounds, coherence/outcome, drift, and rates.

Every function here is pure and fast (10,000 completions score in a few seconds) except
`representation_distance`, which loads all-MiniLM-L6-v2 on first use; importing this package
does not import torch or sentence-transformers. Definitions: docs/metrics.md.
"""

from steerbench.metrics.coherence import (
    DEFAULT_OUTCOME_THRESHOLDS,
    OUTCOMES,
    Outcome,
    OutcomeThresholds,
    TextCoherence,
    classify_outcome,
    degenerate_reasons,
    text_coherence,
)
from steerbench.metrics.confounds import ConfoundStats, confound_stats
from steerbench.metrics.drift import DriftResult, representation_distance
from steerbench.metrics.helpfulness import HelpfulnessScore, score_helpfulness
from steerbench.metrics.rates import (
    OutcomeRates,
    RobustnessRates,
    outcome_rates,
    refusal_rate,
    rrr_ce,
)
from steerbench.metrics.refusal import DEFAULT_REFUSAL_THRESHOLD, RefusalScore, score_refusal

__all__ = [
    "DEFAULT_OUTCOME_THRESHOLDS",
    "DEFAULT_REFUSAL_THRESHOLD",
    "OUTCOMES",
    "ConfoundStats",
    "DriftResult",
    "HelpfulnessScore",
    "Outcome",
    "OutcomeRates",
    "OutcomeThresholds",
    "RefusalScore",
    "RobustnessRates",
    "TextCoherence",
    "classify_outcome",
    "confound_stats",
    "degenerate_reasons",
    "outcome_rates",
    "refusal_rate",
    "representation_distance",
    "rrr_ce",
    "score_helpfulness",
    "score_refusal",
    "text_coherence",
]
