"""One vocabulary: every module's allowed values are the vocab's, and unknown values are errors."""

from __future__ import annotations

import pytest

from steerbench import vocab
from steerbench.errors import ConfigError
from steerbench.gates import load_gates


def test_modules_use_the_vocabulary_not_copies():
    from steerbench import config, device, directions, interventions, model, records
    from steerbench.metrics import coherence
    from steerbench.pipeline import CORE_SPLITS, VARIANTS
    from steerbench.prompts import load, make
    from steerbench.report import tables

    assert config.INTERVENTIONS is interventions.INTERVENTIONS is tables.STEERING_INTERVENTIONS is vocab.INTERVENTIONS
    assert directions.METHODS is vocab.DIRECTION_METHODS and config.CONFIG_DIRECTION_METHODS is vocab.CONFIG_DIRECTION_METHODS
    assert set(vocab.CONFIG_DIRECTION_METHODS) - {"auto"} <= set(vocab.DIRECTION_METHODS)
    assert config.HOOK_POINTS is directions.HOOK_POINTS is vocab.HOOK_POINTS
    assert model.DTYPES is vocab.DTYPES and config.CONFIG_DTYPES is device.CONFIG_DTYPES is vocab.CONFIG_DTYPES
    assert vocab.CONFIG_DTYPES == (vocab.AUTO, *vocab.DTYPES)
    assert CORE_SPLITS is load.CORE_SPLITS is tables.SPLITS is vocab.CORE_SPLITS
    assert VARIANTS is vocab.VARIANTS and records.QUESTIONS is vocab.QUESTIONS
    assert coherence.OUTCOMES is vocab.OUTCOMES and make.OUTPUT_FILES is vocab.PROMPT_FILES


def test_a_misspelt_gate_metric_is_an_error_naming_file_and_line(tmp_path):
    path = tmp_path / "gates.yaml"
    path.write_text("benign:\n  helpfulness_drop: {max: 0.3}\n  false_refusal_rat: {max: 0.5}\n")
    with pytest.raises(ConfigError, match=r"gates.yaml:3: unknown metric 'false_refusal_rat'"):
        load_gates(path)
    path.write_text("generalization:\n  gap: {max: 0.3, interventions: [addd]}\n")
    with pytest.raises(ConfigError, match="unknown intervention 'addd'"):
        load_gates(path)


def test_an_eval_cannot_record_a_metric_outside_the_vocabulary(tmp_path):
    from fixtures.evaluation import Verdicts
    from steerbench.stats import Interval

    from steerbench.gates import Gates

    verdicts = Verdicts(Gates(), lambda record: None)
    with pytest.raises(ValueError, match="unknown metric of question 'benign'"):
        verdicts.record("benign", "helpfulnes_drop", Interval(0.1, 0.0, 0.2, 10))


def test_an_unknown_direction_variant_is_an_error(tiny_llama, tmp_path):
    from steerbench.config import load_config
    from steerbench.pipeline import open_study
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    study = open_study(load_config(rootdir=repo, overrides={"profile": "ci", "layers": "1", "cache_dir": str(tmp_path)}),
                       rootdir=repo, model=tiny_llama)
    with pytest.raises(ValueError, match="unknown direction variant 'alt'"):
        study.direction(1, "alt")


def test_every_metric_an_eval_records_is_in_the_vocabulary():
    """Each literal metric name in evals/ is one of its question's metrics."""
    import re
    from pathlib import Path

    evals = Path(__file__).resolve().parents[1] / "evals"
    found = set()
    for path in evals.glob("test_*.py"):
        for question, metric in re.findall(r'record\(\s*"(\w+)",\s*f?"([\w{}]+)"', path.read_text()):
            metric_variants = [metric]
            # placeholders the evals fill in: {intervention}; the positive control's {test} and {metric}
            for placeholder, values in (("{intervention}", vocab.INTERVENTIONS), ("{test}", ("bypass", "induce")),
                                        ("{metric}", ("refusal", "logodds"))):
                if any(placeholder in m for m in metric_variants):
                    metric_variants = [m.replace(placeholder, v) for m in metric_variants for v in values]
            for name in metric_variants:
                found.add((question, name))
                assert name in vocab.METRICS[question], (path.name, question, name)
    assert len(found) >= 25
