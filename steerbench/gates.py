"""Gate thresholds per question and metric, and the verdict of an interval against them.

A gates file maps question -> metric -> ``{max: x}`` or ``{min: x}``::

    generalization: {gap: {max: 0.3}}
    benign: {helpfulness_drop: {max: 0.35}}

A gate fails only when the metric's whole interval is on the wrong side of its threshold, and is
inconclusive (passing, but listed) when the interval straddles it (DESIGN.md decision 10).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from steerbench.errors import ConfigError
from steerbench.records import QUESTIONS

DIRECTIONS = ("max", "min")


@dataclass(frozen=True)
class Gate:
    question: str
    metric: str
    threshold: float
    direction: str  # "max": the metric must stay <= threshold; "min": >= threshold


@dataclass(frozen=True)
class Gates:
    """The gates of one file; ``source`` is its path ("" when there are none)."""

    gates: tuple[Gate, ...] = ()
    source: str = ""

    def get(self, question: str, metric: str) -> Gate | None:
        for gate in self.gates:
            if gate.question == question and gate.metric == metric:
                return gate
        return None

    def judge(self, question: str, metric: str, interval):
        """Judge ``interval`` (a ``steerbench.stats.Interval``) against this metric's gate.

        Returns:
            ``(threshold, direction, verdict)``; ``(nan, "", None)`` when the metric has no gate.
        """
        from steerbench import stats

        gate = self.get(question, metric)
        if gate is None:
            return math.nan, "", None
        return gate.threshold, gate.direction, stats.verdict(interval, gate.threshold, gate.direction)


def load_gates(path: Path | str) -> Gates:
    """Read a gates YAML file.

    Raises:
        ConfigError: one line naming file:line of the first problem and how to fix it.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--gates {path}: file not found; pass a gates YAML such as data/gates/default.yaml")
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: invalid YAML ({getattr(error, 'problem', error)}); fix the syntax") from None
    if data is None:
        return Gates(source=str(path))
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: expected a mapping question -> metric -> {{max: x}} or {{min: x}}")
    gates = []
    for question_node, metrics_node in root.value:
        question = question_node.value
        where = f"{path}:{question_node.start_mark.line + 1}"
        if question not in QUESTIONS:
            raise ConfigError(f"{where}: unknown question {question!r}; expected one of {', '.join(QUESTIONS)}")
        metrics = data[question]
        if not isinstance(metrics, dict):
            raise ConfigError(f"{where}: question {question!r} must map metric names to {{max: x}} or {{min: x}}")
        metrics = {str(name): rule for name, rule in metrics.items()}
        for metric_node, _ in metrics_node.value:
            metric = metric_node.value
            gates.append(_gate(question, metric, metrics[metric], f"{path}:{metric_node.start_mark.line + 1}"))
    return Gates(gates=tuple(gates), source=str(path))


def _gate(question: str, metric: str, rule: object, where: str) -> Gate:
    fix = f"write {question}: {{{metric}: {{max: 0.3}}}} (or min)"
    if not isinstance(rule, dict) or len(rule) != 1:
        raise ConfigError(f"{where}: gate {question}.{metric} must be exactly one of {{max: x}} or {{min: x}}; {fix}")
    (direction, threshold), = rule.items()
    if direction not in DIRECTIONS:
        raise ConfigError(f"{where}: gate {question}.{metric} has direction {direction!r}; {fix}")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or math.isnan(threshold):
        raise ConfigError(f"{where}: gate {question}.{metric} threshold {threshold!r} is not a number; {fix}")
    return Gate(question=question, metric=metric, threshold=float(threshold), direction=direction)
