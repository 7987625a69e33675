"""What an eval records: one metric of one cell, its interval and its gate verdict.

Records travel from xdist workers to the controller as JSON strings inside ``user_properties``
(DESIGN.md decision 9): every field is a plain float/int/str, so numpy or torch scalars never
reach execnet. The plugin adds ``test_id`` and ``outcome`` when it writes evals.parquet.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from steerbench.vocab import QUESTIONS  # noqa: F401  (evals.parquet "question"; gates files are checked against it)

# evals.parquet columns, in order (docs/CONTRACTS.md).
EVAL_COLUMNS = (
    "model", "question", "test_id", "cell", "layer", "intervention", "alpha", "metric", "stratum", "value",
    "ci_low", "ci_high", "n", "threshold", "direction", "verdict", "p_value", "p_holm", "q_bh", "outcome",
)  # fmt: skip
# One-sided level of a FAIL verdict: the 95% interval lies wholly past the gate iff p_value < ALPHA.
ALPHA = 0.025


@dataclass(frozen=True)
class EvalRecord:
    """One recorded eval metric (a row of evals.parquet without test_id and outcome)."""

    question: str
    cell: str  # cell id such as "L15-add-a1", or "baseline"
    layer: int  # -1 for the baseline or for metrics not tied to one layer
    intervention: str
    alpha: float
    metric: str
    value: float
    ci_low: float
    ci_high: float
    n: int
    threshold: float = math.nan  # NaN when the metric has no gate
    direction: str = ""  # "max" | "min" | "" (ungated)
    verdict: str = ""  # "PASS" | "FAIL" | "INCONCLUSIVE" | "" (ungated)
    # one-sided p-value of "the metric is past its gate" (stats.gate_p_value); NaN when ungated
    p_value: float = math.nan
    stratum: str = ""  # the subset of prompts a metric is measured on, when a test records several (a slice)
    model: str = ""  # the model alias the metric was measured on (the plugin's record_eval fills it in)

    def __post_init__(self) -> None:
        # Coerce numpy/torch scalars and enums to plain Python values (execnet and JSON need them).
        for name, kind in (("layer", int), ("n", int)):
            object.__setattr__(self, name, kind(getattr(self, name)))
        for name in ("alpha", "value", "ci_low", "ci_high", "threshold", "p_value"):
            object.__setattr__(self, name, float(getattr(self, name)))
        for name in ("question", "cell", "intervention", "metric", "direction", "verdict", "stratum", "model"):
            value = getattr(self, name)
            value = "" if value is None else getattr(value, "value", value)
            object.__setattr__(self, name, str(value))

    @classmethod
    def from_interval(
        cls,
        *,
        question: str,
        metric: str,
        interval: Any,
        cell: str = "",
        layer: int = -1,
        intervention: str = "",
        alpha: float = 0.0,
        judged: tuple[float, str, Any] = (math.nan, "", None),
        stratum: str = "",
    ) -> "EvalRecord":
        """Build a record from a ``steerbench.stats.Interval`` and a ``Gates.judge`` result."""
        from steerbench.stats import gate_p_value

        threshold, direction, verdict = judged
        p_value = gate_p_value(interval, threshold, direction) if direction else math.nan
        return cls(
            question=question, cell=cell, layer=layer, intervention=intervention, alpha=alpha,
            metric=metric, value=interval.estimate, ci_low=interval.low, ci_high=interval.high,
            n=interval.n, threshold=threshold, direction=direction, verdict=verdict or "", p_value=p_value,
            stratum=stratum,
        )  # fmt: skip

    @property
    def failed(self) -> bool:
        return self.verdict == "FAIL"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "EvalRecord":
        return cls(**json.loads(text))
