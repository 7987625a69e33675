"""The committed direction selection (data/selections/): current, reproducible, and used instead of a search.

A study on the default model reads the Arditi selection from the committed entry when its key (model
fingerprint, building prompts, thresholds, openers, detector, code version) is the run's, so a cold
`pytest evals -k sanity` does not spend 3 minutes searching. These tests keep that entry honest: its key
is the one the study computes today, and searching again reproduces it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from steerbench import selection as sel
from steerbench.config import DirectionConfig, StudyConfig
from steerbench.model import DEFAULT_MODEL

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "data" / "selections"


def _committed_record(model: str) -> tuple[Path, dict]:
    found = [(p.parent, json.loads(p.read_text())) for p in COMMITTED.glob("*/selection.json")]
    mine = [(root, record) for root, record in found if record["model"] == model]
    assert len(mine) == 1, f"expected one committed selection of {model} under {COMMITTED}, found {len(mine)}"
    return mine[0]


def _same_cpu_or_skip(record: dict) -> None:
    built_on = record["built_on"]["cpu_capability"]
    here = torch.backends.cpu.get_cpu_capability()
    if built_on != here:  # the merged organism's float rounding, hence its fingerprint, follows the CPU's kernels
        pytest.skip(f"the committed selection was made on a {built_on} CPU, this one is {here}: its key may differ "
                    "here, and a study then searches (correctly, in ~3 minutes)")


def _default_study(organism):
    from steerbench.pipeline import open_study

    config = StudyConfig(model=DEFAULT_MODEL, direction=DirectionConfig(method="diff_in_means"))
    return open_study(config, rootdir=REPO, model=organism)


@pytest.mark.slow
def test_the_committed_selection_is_the_one_the_default_study_asks_for(organism):
    root, record = _committed_record(DEFAULT_MODEL)
    _same_cpu_or_skip(record)
    study = _default_study(organism)
    key = sel.selection_key(organism.fingerprint, study.direction_prompts("harm_train"), study.direction_prompts("benign"))
    assert root.name == key, (
        f"data/selections/{root.name} is stale (the study's selection key is {key}: the detector, the building "
        "prompts or the model changed); refresh it with `steerbench direction select --commit` and commit it")
    assert sel._entry_is_sound(root), f"{root}: a file does not match the hash its selection.json records"


@pytest.mark.slow
def test_a_study_uses_the_committed_selection_instead_of_searching(organism, tmp_path, monkeypatch):
    root, record = _committed_record(DEFAULT_MODEL)
    _same_cpu_or_skip(record)
    study = _default_study(organism)

    def no_search(*args, **kwargs):
        raise AssertionError("searched although a committed selection matches")

    monkeypatch.setattr(sel, "_compute", no_search)
    messages = []
    chosen = sel.select_direction(organism, study.direction_prompts("harm_train"), study.direction_prompts("benign"),
                                  tmp_path, progress=messages.append)
    assert (chosen.layer, chosen.position) == (record["selected"]["layer"], record["selected"]["position"])
    assert any("committed selection" in m for m in messages)
    assert (tmp_path / "selection" / root.name / "selection.json").read_bytes() == (root / "selection.json").read_bytes()


@pytest.fixture
def every_core():
    """The machine's cores for one long search (the suite runs one test at a time; the rest of it keeps torch
    on one thread, tests/conftest.py): ~3 minutes on 2 cores instead of ~5.5 on one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(max(threads, os.cpu_count() or 1))
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("STEERBENCH_FULL_SELECTION"),
                    reason="the search takes ~3.5 minutes on 2 cores (CI's budget); set STEERBENCH_FULL_SELECTION=1, "
                           "as after any change to steerbench/selection.py")
def test_searching_again_reproduces_the_committed_selection(organism, tmp_path, monkeypatch, every_core):
    """The search itself, with the committed entry hidden. On the CPU it was made on it gives the same
    candidate and, to float32 rounding, the same scores and direction (tolerances below)."""
    root, record = _committed_record(DEFAULT_MODEL)
    _same_cpu_or_skip(record)
    study = _default_study(organism)
    monkeypatch.setattr(sel, "COMMITTED_DIR", tmp_path / "none")
    fresh = sel.select_direction(organism, study.direction_prompts("harm_train"), study.direction_prompts("benign"),
                                 tmp_path / "cache")
    committed = sel.load_selection(root)
    assert fresh.root.name == root.name
    assert (fresh.layer, fresh.position) == (committed.layer, committed.position)
    scores = ["bypass_score", "induce_score", "kl"]
    a, b = fresh.candidates(), committed.candidates()
    assert a[["layer", "position", "discarded"]].equals(b[["layer", "position", "discarded"]])
    assert (a[scores] - b[scores]).abs().max().max() < 1e-4
    assert float(fresh.direction.unit @ committed.direction.unit) > 1 - 1e-6
