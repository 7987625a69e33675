"""steerbench's pytest plugin: study options, recording fixtures, and the run directory writer.

Loaded through the ``pytest11`` entry point. Every process (controller and xdist workers) builds
the same :class:`StudyConfig` from pyproject, ``--steer-config`` and the flags. Tests record plain
data into ``user_properties`` (DESIGN.md decision 9), which xdist ships to the controller; only the
controller (``not hasattr(config, "workerinput")``) collects them and, at session end, writes
``<results_dir>/runs/<run_id>/`` and ``<results_dir>/latest/``.

Import cost matters here: pytest loads this module on every run, so it imports no torch and no
pandas; the writer (steerbench.report) is imported only when a session has something to write.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pytest

from steerbench import progress
from steerbench.config import FLAGS, PROMPT_PATH_KEYS, StudyConfig, load_configs
from steerbench.errors import ConfigError, DataError, SteerbenchError
from steerbench.gates import Gates, load_gates
from steerbench.model import pick_device
from steerbench.records import EvalRecord

EVAL_PROPERTY = "steerbench.eval"
ROWS_PROPERTY = "steerbench.rows"
RUN_INFO_PROPERTY = "steerbench.run_info"
ARTIFACT_PROPERTY = "steerbench.artifact"
ERROR_PROPERTY = "steerbench.errored"  # the test raised something other than a failed assertion (or errored in setup/teardown)
_FIXTURES = frozenset({"record_eval", "record_rows", "record_run_info", "record_artifact", "steer_config", "steer_gates"})

study_key = pytest.StashKey[StudyConfig]()  # the first (in a single-model run: the only) model's config
# model -> its config: one entry, or one per ``--models`` entry in a cross-model run
model_configs_key = pytest.StashKey[dict[str, StudyConfig]]()
# model -> where its direction selection is stored (direction.layer auto): computed by the controller
# (or the only process) before any worker starts and handed to the workers (evals/conftest.py)
selection_root_key = pytest.StashKey[dict[str, str]]()
gates_key = pytest.StashKey[Gates]()
recorder_key = pytest.StashKey["Recorder"]()

# (dotted config key, metavar, help); the flag names live in steerbench.config.FLAGS
_OPTIONS = (
    ("model", "NAME", "model alias (smollm2-135m, pythia-160m, gpt2, ...), hub id or local checkpoint dir"),
    ("models", "LIST", "comma-separated models for a cross-model run: the study once per model into one run "
                       "directory (rows and evals carry `model`; scaling.csv/md compare them)"),
    ("device", "DEVICE", "torch device: cpu, cuda, cuda:1 or auto (default: cuda when available, else cpu)"),
    ("dtype", "NAME", "model precision: auto (default: bfloat16 on a CUDA GPU with native bf16, float16 on an older "
                      "one, float32 on CPU), float32, bfloat16, float16"),
    ("layers", "LIST", "comma-separated layers: indices (6,15,-1) or depth fractions (0.25,0.5)"),
    ("alphas", "LIST", "comma-separated steering strengths >= 0, e.g. 0,0.5,1,2"),
    ("interventions", "LIST", "comma-separated interventions: add, ablate, ablate_all"),
    ("direction.method", "NAME", "auto (default: diff_in_means with the Arditi selection for chat models that "
                                 "refuse, else contrastive_prefix), contrastive_prefix, diff_in_means, outcome_conditioned"),
    ("n_prompts", "N", "prompts per split (stratified by family), or 'all'"),
    ("generation.max_new_tokens", "N", "tokens generated per completion"),
    ("seed", "N", "sampling seed (common random numbers: same seed, same noise per prompt)"),
    ("profile", "NAME", "preset grid and sizes: ci (minutes, CPU), fast (default), full (GPU)"),
    ("results_dir", "DIR", "where runs/<run_id>/ and latest/ are written (default: reports)"),
    ("gates", "FILE", "gate thresholds YAML (default: data/gates/default.yaml if present)"),
    ("tampering.eval_path", "FILE", "a red-team prompt file (csv/jsonl/json, the `steerbench prompts ingest` format): "
                                    "the tampering question also measures refusal on its refuse prompts"),
    ("prompts_dir", "DIR", "directory holding the study's harm_train.jsonl, harm_test.jsonl and benign.jsonl "
                           "(default: data/prompts under the rootdir, else steerbench's own prompt sets)"),
)


def _dest(key: str) -> str:
    return "steer_" + key.replace(".", "_")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("steerbench", "steerbench study (precedence: defaults < profile < pyproject < --steer-config < flags)")
    group.addoption("--steer-config", dest="steer_config", metavar="FILE", default=None,
                    help="YAML config (flat keys or the seed's configs/default.yaml layout)")  # fmt: skip
    for key, metavar, help_text in _OPTIONS:
        group.addoption(FLAGS[key], dest=_dest(key), metavar=metavar, default=None, help=help_text)
    group.addoption(FLAGS["use_cache"], dest="steer_no_cache", action="store_true", default=False,
                    help="recompute every cell instead of reading the on-disk cell cache")  # fmt: skip


def _overrides(config: pytest.Config) -> dict[str, Any]:
    overrides = {key: config.getoption(_dest(key)) for key, _, _ in _OPTIONS}
    overrides = {key: value for key, value in overrides.items() if value is not None}
    if config.getoption("steer_no_cache"):
        overrides["use_cache"] = False
    return overrides


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sanity: fast sanity checks of the steering pipeline (-k sanity)")
    yaml_path = config.getoption("steer_config")
    try:
        configs = load_configs(
            rootdir=config.rootpath,
            yaml_path=Path(yaml_path) if yaml_path else None,
            overrides=_overrides(config),
            invocation_dir=config.invocation_params.dir,
        )
        study = configs[0]
        gates = load_gates(study.gates) if study.gates else Gates()
        _check_prompt_files(study)
        pick_device(study.device)  # an unknown or absent device fails here, before any test
    except (ConfigError, DataError) as error:
        raise pytest.UsageError(f"steerbench: {error}") from None
    config.stash[study_key] = study
    config.stash[model_configs_key] = {c.model: c for c in configs}
    config.stash[gates_key] = gates
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        progress.set_capture_suspender(capture.global_and_fixture_disabled)
    if not hasattr(config, "workerinput"):
        recorder = Recorder(config, study)
        config.stash[recorder_key] = recorder
        config.pluginmanager.register(recorder, "steerbench-recorder")


def _check_prompt_files(study: StudyConfig) -> None:
    """A bad prompt file stops the session at startup in one line, not as an error in every test."""
    from steerbench.prompts.load import check_prompt_file

    for split, key in PROMPT_PATH_KEYS.items():
        check_prompt_file(Path(getattr(study, key)), split)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Tell an error from a failure: a gate or assertion that fails is a result (the run is
    published); any other exception, or a failure in setup or teardown, means the run is not sound.
    Marked on the report's user_properties, which travel from xdist workers to the controller."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed or call.excinfo is None:
        return
    if report.when == "call" and call.excinfo.errisinstance((AssertionError, pytest.fail.Exception)):
        return
    report.user_properties.append((ERROR_PROPERTY, f"{call.excinfo.typename} in {report.when}"))


def pytest_unconfigure(config: pytest.Config) -> None:
    progress.set_capture_suspender(None)
    recorder = config.stash.get(recorder_key, None)
    if recorder is not None:
        del config.stash[recorder_key]
        config.pluginmanager.unregister(recorder)


@pytest.fixture(scope="session")
def steer_model(request: pytest.FixtureRequest) -> str:
    """The model this test studies: the configured one, or (cross-model run) the test's model parameter
    (evals/conftest.py parametrizes it indirectly, so each model's session fixtures are set up once)."""
    return getattr(request, "param", None) or request.config.stash[study_key].model


@pytest.fixture(scope="session")
def steer_config(pytestconfig: pytest.Config, steer_model: str) -> StudyConfig:
    """The study's configuration for this test's model (defaults < profile < pyproject < --steer-config < flags)."""
    return pytestconfig.stash[model_configs_key][steer_model]


@pytest.fixture(scope="session")
def steer_gates(pytestconfig: pytest.Config, steer_model: str) -> Gates:
    """The gates that judge this test's model (``--gates`` or data/gates/default.yaml, with the file's
    ``models:`` section for this model; empty when there is no file)."""
    return pytestconfig.stash[gates_key].for_model(steer_model)


@pytest.fixture
def record_eval(request: pytest.FixtureRequest, steer_model: str) -> Callable[[EvalRecord], None]:
    """Record one eval metric of this test: ``record_eval(EvalRecord(...))`` -> evals.parquet (its
    ``model`` is this test's model unless the record names one)."""
    import dataclasses

    def record(eval_record: EvalRecord) -> None:
        if not isinstance(eval_record, EvalRecord):
            raise TypeError(f"record_eval takes a steerbench.records.EvalRecord, got {type(eval_record).__name__}")
        if not eval_record.model:
            eval_record = dataclasses.replace(eval_record, model=steer_model)
        request.node.user_properties.append((EVAL_PROPERTY, eval_record.to_json()))

    return record


@pytest.fixture
def record_rows(request: pytest.FixtureRequest, steer_model: str) -> Callable[[Path | str], None]:
    """Record a parquet file of per-completion rows (a cell cache file) -> results.parquet (its rows'
    ``model`` is this test's model)."""

    def record(path: Path | str) -> None:
        path = Path(path).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"record_rows: {path} does not exist; record a written parquet file")
        request.node.user_properties.append((ROWS_PROPERTY, json.dumps({"path": str(path), "model": steer_model})))

    return record


@pytest.fixture
def record_artifact(request: pytest.FixtureRequest, steer_model: str) -> Callable[[Path | str], None]:
    """Record a file made by an eval (a figure, a scores table) -> copied into the run's ``directions/``
    (a cross-model run: ``models/<model>/directions/``)."""

    def record(path: Path | str) -> None:
        path = Path(path).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"record_artifact: {path} does not exist; record a written file")
        request.node.user_properties.append((ARTIFACT_PROPERTY, json.dumps({"path": str(path), "model": steer_model})))

    return record


@pytest.fixture
def record_run_info(request: pytest.FixtureRequest, steer_model: str) -> Callable[[str, Any], None]:
    """Record a run-level fact (model fingerprint, device, timings) -> run.json ``run_info`` (a cross-model
    run: ``run_info.models.<model>``, and that model's ``models/<model>/run.json``)."""

    def record(key: str, value: Any) -> None:
        try:
            payload = json.dumps({"key": str(key), "value": value, "model": steer_model})
        except (TypeError, ValueError) as error:
            raise TypeError(f"record_run_info({key!r}): value is not JSON-able ({error}); pass plain data") from None
        request.node.user_properties.append((RUN_INFO_PROPERTY, payload))

    return record


class Recorder:
    """Controller-only: gathers what tests recorded and writes the run directory at session end."""

    def __init__(self, config: pytest.Config, study: StudyConfig) -> None:
        self.config = config
        self.study = study
        self.started = time.time()
        self.properties: dict[str, list[tuple[str, str]]] = {}  # nodeid -> its latest user_properties
        self.outcomes: dict[str, str] = {}
        self.errors: dict[str, str] = {}  # nodeid -> "<exception type> in <phase>" of the tests that errored
        self.durations: dict[str, float] = defaultdict(float)
        self.evals: list[dict[str, Any]] = []
        self.run_dir: Path | None = None
        self.notes: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        ours = [(name, value) for name, value in report.user_properties if str(name).startswith("steerbench.")]
        if ours:  # user_properties accumulate over setup/call/teardown: the latest report has them all
            self.properties[report.nodeid] = ours
        self.durations[report.nodeid] += report.duration
        previous = self.outcomes.get(report.nodeid)
        if report.failed and any(name == ERROR_PROPERTY for name, _ in report.user_properties):
            self.outcomes[report.nodeid] = "errored"
            self.errors.setdefault(report.nodeid, next(v for n, v in report.user_properties if n == ERROR_PROPERTY))
        elif report.failed and previous != "errored":
            self.outcomes[report.nodeid] = "failed"
        elif report.skipped and previous not in ("failed", "errored"):
            self.outcomes[report.nodeid] = "skipped"
        elif report.when == "call" and previous is None:
            self.outcomes[report.nodeid] = "passed"

    def _collect(self) -> tuple[list[dict[str, Any]], list[tuple[str, str]], dict[str, Any]]:
        """The recorded evals, (row file, model) pairs and run_info: flat for one model; for a cross-model
        run, ``{"models": {model: {..., "artifacts": [...]}}}``."""
        evals, row_files = [], []
        per_model: dict[str, dict[str, Any]] = defaultdict(lambda: {"artifacts": []})
        for nodeid in sorted(self.properties):
            for name, value in self.properties[nodeid]:
                if name == EVAL_PROPERTY:
                    record = EvalRecord.from_json(value)
                    evals.append({**record.__dict__, "test_id": nodeid, "outcome": self.outcomes.get(nodeid, "")})
                elif name == ROWS_PROPERTY:
                    item = json.loads(value)
                    row_files.append((item["path"], item["model"]))
                elif name == RUN_INFO_PROPERTY:
                    item = json.loads(value)
                    per_model[item["model"]][item["key"]] = item["value"]
                elif name == ARTIFACT_PROPERTY:
                    item = json.loads(value)
                    if item["path"] not in per_model[item["model"]]["artifacts"]:
                        per_model[item["model"]]["artifacts"].append(item["path"])
        if self.study.models:
            return evals, row_files, {"models": {m: per_model[m] for m in self.study.models if m in per_model}}
        return evals, row_files, per_model[self.study.model] if per_model else {"artifacts": []}

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.evals, row_files, run_info = self._collect()
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            # A test interrupted mid-call never reports its records, so also ask what was collected.
            uses_study = any(_FIXTURES.intersection(getattr(item, "fixturenames", ())) for item in session.items)
            if self.evals or row_files or uses_study:
                self.notes.append(
                    f"session interrupted: no run directory written; finished cells stay cached in "
                    f"{self.study.cache_dir} and the next run resumes from them"
                )
            return
        if not self.evals and not row_files:
            return
        if exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            self.notes.append(f"no run directory written: the session ended with exit status {int(exitstatus)}")
            return
        if self.errors:
            first = ", ".join(f"{nodeid} ({why})" for nodeid, why in list(sorted(self.errors.items()))[:3])
            self.notes.append(
                f"no run directory written: {len(self.errors)} test(s) errored, so the run is incomplete: {first}"
                f"{' ...' if len(self.errors) > 3 else ''}; fix the error and re-run (finished cells stay cached in "
                f"{self.study.cache_dir})")
            return
        failed_gates = [e for e in self.evals if e["verdict"] == "FAIL"]
        if failed_gates and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        self._write(row_files, run_info)

    def _write(self, row_files: list[str], run_info: dict[str, Any]) -> None:
        from steerbench.report.run_dir import environment, unique_run_dir, write_run

        finished = datetime.now(timezone.utc)
        run_id = f"{finished:%Y%m%dT%H%M%SZ}-{self.study.short_hash()}"
        run_dir = unique_run_dir(Path(self.study.results_dir), run_id)
        run_json = {
            "run_id": run_dir.name,
            "config": self.study.to_dict(),
            "seeds": {"seed": self.study.seed, "alt_seed": self.study.alt_seed},
            **environment(self.config.rootpath),
            "run_info": run_info,
            "model_fingerprint": run_info.get("model_fingerprint"),  # None in a cross-model run: see run_info.models
            **({"model_configs": {m: c.to_dict() for m, c in self.config.stash[model_configs_key].items()}}
               if self.study.models else {}),
            "gates_file": self.study.gates,
            "complete": True,  # written only when no test errored and the session was not interrupted
            "tests": _count(self.outcomes.values()),
            "errored": sorted(self.errors),
            "invocation": {
                "args": list(self.config.invocation_params.args),
                "workers": getattr(self.config.option, "numprocesses", None) or 0,
            },
            "timings": {
                "started_utc": datetime.fromtimestamp(self.started, timezone.utc).isoformat(),
                "finished_utc": finished.isoformat(),
                "session_wall_s": round(time.time() - self.started, 3),
                "test_durations_sum_s": round(sum(self.durations.values()), 3),
            },
        }
        try:
            problem = write_run(run_dir, row_files=row_files, evals=self.evals, run_json=run_json,
                                artifacts=run_info.get("artifacts", []))
        except SteerbenchError as error:
            self.notes.append(f"no run directory written: {error}")
            return
        self.run_dir = run_dir
        if problem:
            self.notes.append(problem)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.evals and not self.notes and self.run_dir is None:
            return
        terminalreporter.write_sep("=", "steerbench")
        counts = _count(self.outcomes.values())
        terminalreporter.write_line(
            f"tests: {counts['passed']} passed, {counts['failed']} failed (a gate or assertion), {counts['errored']} "
            f"errored (an exception; pytest counts those in the call as failed), {counts['skipped']} skipped")
        for line in summarize(self.evals):
            terminalreporter.write_line(line)
        for note in self.notes:
            terminalreporter.write_line(f"steerbench: {note}")
        if self.run_dir is not None:
            terminalreporter.write_line(f"steerbench run written to {self.run_dir}")


def _count(outcomes) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "errored": 0, "skipped": 0}
    for outcome in outcomes:
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def summarize(evals: list[dict[str, Any]], max_listed: int = 10) -> list[str]:
    """Per question: how many cells passed / failed / were inconclusive; inconclusive ones listed."""
    cells: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    cross_model = len({record.get("model", "") for record in evals}) > 1  # one block per (model, question)
    for record in evals:
        question = f"{record['model']}: {record['question']}" if cross_model else record["question"]
        cells[question][record["cell"] or "-"].append(record)
    lines = []
    from steerbench.records import ALPHA
    from steerbench.report.run_dir import with_adjusted_p

    adjusted = with_adjusted_p(evals)
    gated = [r for r in adjusted if r["p_value"] == r["p_value"]]
    findings = [r for r in adjusted if r["verdict"] == "FAIL" and r.get("question") != "sanity"]
    if gated:
        holm = sum(1 for r in findings if r["p_holm"] < ALPHA)
        bh = sum(1 for r in findings if r["q_bh"] < ALPHA)
        lines.append(f"{len(findings)} findings (FAIL verdicts) among {len(gated)} gated verdicts; "
                     f"{holm} survive Holm, {bh} Benjamini-Hochberg at one-sided {ALPHA} (evals.parquet p_holm, q_bh)")
    for question in sorted(cells):
        status = {cell: _cell_status(records) for cell, records in cells[question].items()}
        counts = {name: sum(1 for s in status.values() if s == name) for name in ("passed", "failed", "inconclusive")}
        skipped = sum(1 for s in status.values() if s == "skipped")
        line = f"{question:<18} cells: {counts['passed']} passed, {counts['failed']} failed, {counts['inconclusive']} inconclusive"
        lines.append(line + (f", {skipped} skipped" if skipped else ""))
        listed = [(cell, r) for cell, records in sorted(cells[question].items()) for r in records
                  if r["verdict"] in ("FAIL", "INCONCLUSIVE")]  # fmt: skip
        for cell, r in listed[:max_listed]:
            lines.append(
                f"    {r['verdict'].lower():<12} {cell} {r['metric']}{'[' + r['stratum'] + ']' if r.get('stratum') else ''} = {r['value']:.3g} "
                f"[{r['ci_low']:.3g}, {r['ci_high']:.3g}] vs {r['direction']} {r['threshold']:g}"
            )
        if len(listed) > max_listed:
            lines.append(f"    ... and {len(listed) - max_listed} more (see evals.parquet)")
    return lines


def _cell_status(records: list[dict[str, Any]]) -> str:
    verdicts = {r["verdict"] for r in records}
    outcomes = {r["outcome"] for r in records}
    if "FAIL" in verdicts or outcomes & {"failed", "errored"}:
        return "failed"
    if "INCONCLUSIVE" in verdicts:
        return "inconclusive"
    if outcomes == {"skipped"}:
        return "skipped"
    return "passed"
