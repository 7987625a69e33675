"""The pytest plugin, end to end with pytester: recording, xdist, run directories, gates, errors.

Each test runs a small inner pytest session in a temporary project whose tests record evals, row
files and run info exactly as the evals/ fixtures do, but with rows they write themselves.
"""

from __future__ import annotations

import importlib.metadata
import io
import json
import textwrap

import pandas as pd
import pytest

pytest_plugins = ["pytester"]


def _plugin_args() -> tuple[str, ...]:
    """``-p steerbench.pytest_plugin`` unless the installed entry point already loads it."""
    installed = any(ep.value == "steerbench.pytest_plugin" for ep in importlib.metadata.entry_points(group="pytest11"))
    return () if installed else ("-p", "steerbench.pytest_plugin")


STUDY = '''
import json, os
from pathlib import Path

import pandas as pd
import pytest

from steerbench.records import EvalRecord
from steerbench.stats import wilson_interval

CACHE = Path(__file__).parent / "cell_cache"  # shared by workers, like the real cell cache


def cell_rows(cell, layer, intervention, alpha, refusals):
    """Write (once per cell, atomically) the per-completion rows of one cell; return the file."""
    rows = []
    for split in ("harm_train", "harm_test", "benign"):
        for i in range(4):
            refused = i < refusals
            rows.append(dict(
                prompt_id=f"{split}_{i:04d}", split=split, family=f"f{i % 2}", style="plain", slice="",
                prompt=f"prompt {i}", layer=layer, intervention=intervention, alpha=alpha, cell=cell,
                seed=0, sample_index=0, completion="I can't." if refused else "Sure: 1. a 2. b",
                n_tokens=4, ended_eos=True, mean_logprob=-1.0, mean_entropy=1.0,
                refusal_score=0.9 if refused else 0.1, is_refusal=refused, matched="[]",
                helpfulness_score=0.1 if refused else 0.8, is_helpful=not refused,
                outcome="refusal" if refused else "compliance", refused=refused, fluency_logprob=-2.0,
                distinct_1=1.0, distinct_2=1.0, longest_repeat=1, refusal_logodds=0.0,
                drift=float("nan") if cell == "baseline" else 0.1,
            ))
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"{cell}.parquet"
    temporary = CACHE / f".{cell}.{os.getpid()}.tmp"
    pd.DataFrame(rows).to_parquet(temporary, index=False)
    os.replace(temporary, path)
    return path


@pytest.fixture
def model(record_run_info):
    record_run_info("model_fingerprint", "toy-fp-123")  # recorded during setup
    return "toy"


@pytest.mark.parametrize("layer", [4, 8])
def test_generalization_gap(model, layer, record_eval, record_rows, steer_gates, steer_config):
    cell = f"L{layer}-add-a1"
    record_rows(cell_rows("baseline", -1, "baseline", 0.0, 1))
    record_rows(cell_rows(cell, layer, "add", 1.0, 2 + layer // 4))
    gap = wilson_interval(1, 4)
    judged = steer_gates.judge("generalization", "gap", gap)
    record_eval(EvalRecord.from_interval(question="generalization", metric="gap", interval=gap, cell=cell,
                                         layer=layer, intervention="add", alpha=1.0, judged=judged))
    assert judged[2] is not None and judged[2].value != "FAIL"
    assert steer_config.alphas == (0.0, 1.0)


@pytest.mark.sanity
def test_alpha_zero_is_identity(model, record_eval):
    record_eval(EvalRecord(question="sanity", cell="L4-add-a0", layer=4, intervention="add", alpha=0.0,
                           metric="max_relative_projection_after_ablation", value=0.0, ci_low=0.0, ci_high=0.0, n=12))
'''

BROKEN = '''
from steerbench.records import EvalRecord
from steerbench.stats import Interval


def test_sign_flipped_direction(record_eval, steer_gates):
    gain = Interval(-0.2, -0.4, 0.0, 12)
    judged = steer_gates.judge("generalization", "harm_test_refusal_gain", gain)
    record_eval(EvalRecord.from_interval(question="generalization", metric="harm_test_refusal_gain",
                                         interval=gain, cell="L4-add-a1", layer=4, intervention="add",
                                         alpha=1.0, judged=judged))
    # no assert: the plugin alone must fail the session on a FAIL verdict
'''

INTERRUPTED = '''
from steerbench.records import EvalRecord


def test_records_then_is_interrupted(record_eval):
    record_eval(EvalRecord(question="sanity", cell="c", layer=1, intervention="add", alpha=1.0,
                           metric="m", value=0.0, ci_low=0.0, ci_high=0.0, n=1))
    raise KeyboardInterrupt
'''


@pytest.fixture(scope="module", autouse=True)
def _import_writers_before_inner_sessions():
    """Load pandas' parquet engine and the report modules in this process first.

    In-process pytester sessions drop the modules they imported when they end; reimporting
    pyarrow's pandas extension types then fails ("pandas.period already defined").
    """
    import steerbench.report  # noqa: F401  (matplotlib, tables, writer)

    buffer = io.BytesIO()
    pd.DataFrame({"a": [1]}).to_parquet(buffer)
    pd.read_parquet(io.BytesIO(buffer.getvalue()))


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyprojecttoml(
        """
        [tool.pytest.ini_options]
        markers = ["sanity: sanity checks"]
        [tool.steerbench]
        results_dir = "out"
        alphas = [0, 1]
        """
    )
    gates = pytester.path / "data" / "gates"
    gates.mkdir(parents=True)
    (gates / "default.yaml").write_text(
        "generalization: {gap: {max: 0.9}, harm_test_refusal_gain: {min: 0.1}}\nsanity: {max_relative_projection_after_ablation: {max: 0.01}}\n"
    )
    pytester.makepyfile(test_study=textwrap.dedent(STUDY))
    return pytester


def _run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    # no_reraise_ctrlc: an inner KeyboardInterrupt must end the inner session only
    return project.runpytest(*_plugin_args(), "-p", "no:cacheprovider", *args, no_reraise_ctrlc=True)


def _runs(project: pytest.Pytester) -> list:
    runs = project.path / "out" / "runs"
    return sorted(runs.iterdir()) if runs.exists() else []


def test_records_reach_the_controller_and_outputs_are_written_once(project):
    serial = _run(project, "test_study.py", "-n", "0")
    serial.assert_outcomes(passed=3)
    (first,) = _runs(project)
    serial.stdout.fnmatch_lines(["*generalization * cells: 2 passed, 0 failed, 0 inconclusive*",
                                 f"steerbench run written to {first}"])  # fmt: skip

    parallel = _run(project, "test_study.py", "-n", "2")
    parallel.assert_outcomes(passed=3)
    first, second = _runs(project)  # one new run directory per session, nothing half-written
    assert not first.name.startswith(".") and not second.name.startswith(".")

    for name in ("results.parquet", "evals.parquet"):
        serial_frame, parallel_frame = pd.read_parquet(first / name), pd.read_parquet(second / name)
        pd.testing.assert_frame_equal(serial_frame, parallel_frame)
    results = pd.read_parquet(second / "results.parquet")
    assert len(results) == 3 * 3 * 4  # baseline + two cells, 3 splits, 4 prompts; duplicates dropped
    evals = pd.read_parquet(second / "evals.parquet")
    assert list(evals["question"]) == ["sanity", "generalization", "generalization"]  # by test_id
    assert set(evals["verdict"]) == {"PASS", ""} and set(evals["outcome"]) == {"passed"}

    run = json.loads((second / "run.json").read_text())
    assert run["run_id"] == second.name and run["config"]["alphas"] == [0.0, 1.0]
    assert run["model_fingerprint"] == "toy-fp-123" and run["seeds"] == {"seed": 0, "alt_seed": 42}
    assert {"python", "steerbench", "pandas", "scikit-learn"} <= set(run["versions"]) and "commit" in run["git"]
    assert run["cpu_capability"]
    assert run["timings"]["session_wall_s"] > 0 and run["tests"]["passed"] == 3
    varying = ("run_id", "timings", "invocation")  # everything else matches between -n 0 and -n 2
    serial_run = json.loads((first / "run.json").read_text())
    assert {k: v for k, v in serial_run.items() if k not in varying} == {k: v for k, v in run.items() if k not in varying}
    assert run["invocation"]["workers"] == 2 and serial_run["invocation"]["workers"] == 0
    for output in ("summary.csv", "examples.md", "figures/tradeoff_refusal_vs_helpfulness.png"):
        assert (second / output).is_file()
    latest = project.path / "out" / "latest"
    assert json.loads((latest / "run.json").read_text())["run_id"] == second.name
    assert sorted(p.name for p in (project.path / "out").iterdir()) == ["latest", "runs"]


def test_fail_verdict_fails_the_session(project):
    project.makepyfile(test_broken=textwrap.dedent(BROKEN))
    result = _run(project, "test_broken.py")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*generalization * cells: 0 passed, 1 failed, 0 inconclusive*",
                                 "*fail * L4-add-a1 harm_test_refusal_gain = -0.2 *vs min 0.1*"])  # fmt: skip
    (run,) = _runs(project)  # a failing session still writes its run
    assert list(pd.read_parquet(run / "evals.parquet")["verdict"]) == ["FAIL"]


ERRORED = '''
import pytest

from steerbench.records import EvalRecord


def _record(record_eval):
    record_eval(EvalRecord(question="sanity", cell="c", layer=1, intervention="add", alpha=1.0,
                           metric="m", value=0.0, ci_low=0.0, ci_high=0.0, n=1))


def test_records_then_crashes(record_eval):
    _record(record_eval)
    raise RuntimeError("CUDA error: no kernel image is available")


@pytest.fixture
def broken_model():
    raise OSError("the weights are not there")


def test_setup_errors(broken_model, record_eval):
    _record(record_eval)


def test_fine(record_eval):
    _record(record_eval)
'''


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_session_with_an_errored_test_publishes_no_run(project, workers):
    project.makepyfile(test_errored=textwrap.dedent(ERRORED))
    result = _run(project, "test_errored.py", "-n", workers)
    result.assert_outcomes(passed=1, failed=1, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "*tests: 1 passed, 0 failed (a gate or assertion), 2 errored (an exception*), 0 skipped*",
        "*no run directory written: 2 test(s) errored, so the run is incomplete: "
        "test_errored.py::test_records_then_crashes (RuntimeError in call), "
        "test_errored.py::test_setup_errors (OSError in setup)*",
    ])
    assert _runs(project) == [] and not (project.path / "out" / "latest").exists()


def test_a_published_run_says_it_is_complete_and_how_its_tests_ended(project):
    project.makepyfile(test_broken=textwrap.dedent(BROKEN))
    result = _run(project, "test_study.py", "test_broken.py")
    result.stdout.fnmatch_lines(["*tests: 4 passed, 0 failed (a gate or assertion), 0 errored*"])
    (run,) = _runs(project)  # a FAIL verdict is a finding: the run is published
    record = json.loads((run / "run.json").read_text())
    assert record["complete"] is True and record["errored"] == []
    assert record["tests"] == {"passed": 4, "failed": 0, "errored": 0, "skipped": 0}


def test_k_sanity_selects_only_sanity_tests(project):
    result = _run(project, "test_study.py", "-k", "sanity")
    result.assert_outcomes(passed=1, deselected=2)
    (run,) = _runs(project)
    assert set(pd.read_parquet(run / "evals.parquet")["question"]) == {"sanity"}


def test_interrupted_session_writes_no_run_directory(project):
    project.makepyfile(test_interrupt=textwrap.dedent(INTERRUPTED))
    result = _run(project, "test_interrupt.py")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*session interrupted: no run directory written; finished cells stay cached*"])
    assert _runs(project) == [] and not (project.path / "out" / "latest").exists()


def test_bad_alphas_flag_is_a_one_line_usage_error(project):
    result = _run(project, "test_study.py", "--alphas", "0,-1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert errors == ["ERROR: steerbench: flag --alphas: alpha -1 is negative; expected a non-empty list of numbers >= 0, such as 0, 0.5, 1"]


@pytest.mark.parametrize("args, message", [
    (("--device", "tpu"), "steerbench: --device tpu: not a device string; use cpu, cuda, cuda:N, mps or auto"),
    (("--results-dir", "test_study.py"), "is a file, not a directory"),
    (("--alphas", "0,nan"), "alpha nan is not a finite number"),
])
def test_bad_device_and_paths_fail_before_any_test_and_publish_nothing(project, args, message):
    result = _run(project, "test_study.py", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1 and message in errors[0], errors
    assert not (project.path / "out").exists()


def test_worker_threads_are_the_cores_share_or_steerbench_threads(monkeypatch):
    import os

    from fixtures.study import worker_threads

    monkeypatch.delenv("STEERBENCH_THREADS", raising=False)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    assert worker_threads() == max(1, (os.cpu_count() or 1) // 2)
    monkeypatch.setenv("STEERBENCH_THREADS", "3")
    assert worker_threads() == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("STEERBENCH_THREADS", bad)
        with pytest.raises(pytest.UsageError, match="STEERBENCH_THREADS"):
            worker_threads()
