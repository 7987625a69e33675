"""The ci gates pass on the real default model and fail when the intervention is broken.

Runs the generalization eval of the ci profile twice in a subprocess, exactly as a user would, the
second time with a one-line fault injected (the direction's sign flipped) by a tiny plugin.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
FLIP_PLUGIN = '''
import dataclasses
from steerbench import pipeline

_direction = pipeline.Study.direction


def _flipped(self, layer, variant="main"):
    direction = _direction(self, layer, variant)
    return dataclasses.replace(direction, unit=-direction.unit)


pipeline.Study.direction = _flipped
'''


def _cache(tmp_path: Path) -> Path:
    """``$STEERBENCH_CACHE`` where set (.ci/run: one cache for the tests and the gated run that follows, so the
    gated run reuses these rows; every entry is keyed by all its inputs), else a fresh one."""
    return Path(os.environ["STEERBENCH_CACHE"]) if os.environ.get("STEERBENCH_CACHE", "").strip() else tmp_path / "cache"


def _run(tmp_path: Path, cache: Path, *extra: str) -> tuple[int, dict]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    results = tmp_path / "reports"
    config = tmp_path / "steer.yaml"
    config.write_text(f"cache_dir: {cache}\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [sys.executable, "-m", "pytest", str(REPO / "evals" / "test_generalization.py"), "-k", "a1",
               "--profile", "ci", "--gates", str(REPO / "data" / "gates" / "ci.yaml"), "--steer-config", str(config),
               "--results-dir", str(results), "-p", "no:cacheprovider", "-q", *extra]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    import pandas as pd

    evals = pd.read_parquet(results / "latest" / "evals.parquet")
    return done.returncode, {row.metric: (row.value, row.verdict) for row in evals.itertuples()}


def test_ci_gates_pass_on_the_default_model_and_fail_with_a_flipped_sign(tmp_path):
    # One cache for both runs: the flipped run reuses the baseline rows and the direction, never a
    # steered row (rows are keyed by the unit vector's hash, pipeline._unit_hash), which halves the cost.
    cache = _cache(tmp_path)
    ok_code, ok = _run(tmp_path / "ok", cache)
    assert ok_code == 0, ok
    assert ok["harm_test_logodds_gain"][0] > 0 and ok["harm_test_logodds_gain"][1] != "FAIL"
    (tmp_path / "flip").mkdir(exist_ok=True)
    (tmp_path / "flip" / "flip_sign.py").write_text(FLIP_PLUGIN)
    flip_code, flipped = _run(tmp_path / "flip", cache, "-p", "flip_sign")
    assert flip_code == 1, flipped
    assert flipped["harm_test_logodds_gain"][0] < 0
    assert flipped["harm_test_logodds_gain"][1] == "FAIL"
    print(json.dumps({"ok": ok, "flipped": flipped}, default=str))


def test_the_tampering_ci_gate_fails_an_attack_that_does_not_train(tmp_path):
    """The ci profile's tampering gate (harmful_sft's refusal change <= -0.3 after 8 steps) fails when the
    attack is broken: here its learning rate is 0, so the attacked model is the untampered one."""
    results = tmp_path / "reports"
    config = tmp_path / "steer.yaml"
    config.write_text(f"cache_dir: {_cache(tmp_path)}\ntampering:\n  lr: 0.0\n")
    command = [sys.executable, "-m", "pytest", str(REPO / "evals" / "test_tampering.py") + "::test_tampering",
               "--profile", "ci", "--gates", str(REPO / "data" / "gates" / "ci.yaml"), "--steer-config", str(config),
               "--results-dir", str(results), "-p", "no:cacheprovider", "-q"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    import pandas as pd

    evals = pd.read_parquet(results / "latest" / "evals.parquet")
    change = evals[evals["metric"] == "refusal_change"].iloc[0]
    assert done.returncode == 1, done.stdout[-2000:]
    assert change["value"] == 0.0 and change["verdict"] == "FAIL", change.to_dict()
