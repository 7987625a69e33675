"""The user's commands on evals/, checked without model work: selection and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _pytest(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "evals", "-p", "no:cacheprovider", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})


def test_k_sanity_selects_only_the_sanity_checks():
    done = _pytest("-k", "sanity", "--co", "-q", "--profile", "ci")
    collected = [line for line in done.stdout.splitlines() if "::" in line]
    assert done.returncode == 0 and collected
    assert all("test_sanity.py::test_sanity_" in line for line in collected)
    marked = _pytest("-m", "sanity", "--co", "-q", "--profile", "ci")
    assert [line for line in marked.stdout.splitlines() if "::" in line] == collected


def test_grid_ids_name_the_cells():
    done = _pytest("--co", "-q", "--profile", "ci", "--layers", "15", "--alphas", "0,2", "--interventions", "add,ablate")
    ids = done.stdout
    for cell in ("L15-add-a0", "L15-add-a2", "L15-ablate-a2"):
        assert f"test_generalization_gap[{cell}]" in ids


def test_unavailable_hub_model_stops_with_one_line(tmp_path):
    env = {"HF_HOME": str(tmp_path), "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    done = _pytest("-n", "2", "--model", "pythia-160m", env=env)
    output = (done.stdout + done.stderr).strip().splitlines()
    assert done.returncode == 4
    assert len(output) == 1 and output[0].startswith("ERROR: model 'pythia-160m' (EleutherAI/pythia-160m)")
    assert "huggingface-cli download EleutherAI/pythia-160m" in output[0]


def test_out_of_range_layer_stops_with_one_line():
    done = _pytest("--layers", "40", "--profile", "ci")
    output = (done.stdout + done.stderr).strip().splitlines()
    assert done.returncode == 4 and len(output) == 1
    assert "layer 40 is out of range for a 30-layer model" in output[0]
