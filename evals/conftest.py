"""Parametrize the research questions over the configured grid, and fail fast on an unusable model."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from fixtures.evaluation import attack_point_id
from steerbench.errors import SteerbenchError
from steerbench.model import layer_count
from steerbench.pipeline import grid, resolved_layers
from steerbench.pytest_plugin import selection_root_key, study_key

WORKERINPUT_SELECTION = "steerbench_selection_root"


@functools.lru_cache(maxsize=4)
def _n_layers(model: str) -> int:
    return layer_count(model)


@pytest.hookimpl(trylast=True)  # after steerbench's plugin has put the StudyConfig in the stash
def pytest_configure(config: pytest.Config) -> None:
    """Resolve the model (and the layers) once, before any worker starts: a missing hub model or an
    out-of-range layer stops the session with one line instead of one traceback per test."""
    study = config.stash.get(study_key, None)
    if study is None:
        return
    if hasattr(config, "workerinput"):
        if config.workerinput.get(WORKERINPUT_SELECTION):
            config.stash[selection_root_key] = config.workerinput[WORKERINPUT_SELECTION]
        return
    try:
        if study.direction.layer == "auto":
            config.stash[selection_root_key] = str(_run_selection(study, Path(str(config.rootpath))))
        resolved_layers(study, _n_layers(study.model), _auto_layer(config))
    except SteerbenchError as error:
        raise pytest.UsageError(str(error)) from None


def _run_selection(study_config, rootdir: Path) -> Path:
    """Select the direction once, here, so every worker steers along the same one (cached on disk)."""
    import os

    from steerbench import progress
    from steerbench.pipeline import open_study

    token = os.environ.get("STEERBENCH_RUN_TOKEN", "") or f"controller-{os.getpid()}"
    study = open_study(study_config, rootdir=rootdir, progress=progress.report, run_token=token)
    return study.selection().root


def _auto_layer(config) -> int | None:
    from steerbench.selection import load_selection

    root = config.stash.get(selection_root_key, None)
    return None if root is None else load_selection(Path(root)).layer


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist: give each worker the controller's selection."""
    root = node.config.stash.get(selection_root_key, None)
    if root is not None:
        node.workerinput[WORKERINPUT_SELECTION] = root


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    study = metafunc.config.stash[study_key]
    n_layers = _n_layers(study.model)
    auto_layer = _auto_layer(metafunc.config)
    if "cell" in metafunc.fixturenames:
        cells = grid(study, n_layers, auto_layer)
        metafunc.parametrize("cell", cells, ids=[c.id for c in cells])
    elif "robustness_cell" in metafunc.fixturenames:
        # the seed question re-samples each layer x intervention at the robustness alpha only
        cells = sorted({c for c in grid(study, n_layers, auto_layer) if c.alpha == study.robustness_alpha} or
                       {type(c)(c.layer, c.intervention, float(study.robustness_alpha))
                        for c in grid(study, n_layers, auto_layer)})
        metafunc.parametrize("robustness_cell", cells, ids=[c.id for c in cells])
    elif "attack_point" in metafunc.fixturenames:
        # the tampering grid: attack x attacker steps (the untampered step 0 is every point's reference) x seed,
        # attacks interleaved so that xdist workers start on different attacks' training runs, not one each
        t = study.tampering
        points = [(attack, steps, seed) for seed in t.seeds for steps in t.steps if steps > 0 for attack in t.attacks]
        metafunc.parametrize("attack_point", points, ids=[attack_point_id(*p) for p in points])
    elif "attack_name" in metafunc.fixturenames:
        metafunc.parametrize("attack_name", list(study.tampering.attacks))
    elif "layer" in metafunc.fixturenames:
        layers = resolved_layers(study, n_layers, auto_layer)
        metafunc.parametrize("layer", layers, ids=[f"L{layer}" for layer in layers])
