"""Parametrize the research questions over the configured grid, and fail fast on an unusable model."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from fixtures.evaluation import attack_point_id
from steerbench.errors import SteerbenchError
from steerbench.model import layer_count
from steerbench.pipeline import grid, resolved_layers
from steerbench.pytest_plugin import model_configs_key, selection_root_key

WORKERINPUT_SELECTION = "steerbench_selection_root"  # JSON: model -> its selection's directory


@functools.lru_cache(maxsize=4)
def _n_layers(model: str) -> int:
    return layer_count(model)


@pytest.hookimpl(trylast=True)  # after steerbench's plugin has put the StudyConfig in the stash
def pytest_configure(config: pytest.Config) -> None:
    """Resolve the model (and the layers) once, before any worker starts: a missing hub model or an
    out-of-range layer stops the session with one line instead of one traceback per test."""
    configs = config.stash.get(model_configs_key, None)
    if configs is None:
        return
    if hasattr(config, "workerinput"):
        if config.workerinput.get(WORKERINPUT_SELECTION):
            config.stash[selection_root_key] = json.loads(config.workerinput[WORKERINPUT_SELECTION])
        return
    roots: dict[str, str] = {}
    config.stash[selection_root_key] = roots
    for model, study in configs.items():  # a cross-model run: each model's selection, one after the other
        try:
            if study.direction.layer == "auto":
                roots[model] = str(_run_selection(study, Path(str(config.rootpath))))
            resolved_layers(study, _n_layers(model), _auto_layer(config, model))
        except SteerbenchError as error:
            raise pytest.UsageError(f"{error}" if len(configs) == 1 else f"model {model}: {error}") from None


def _run_selection(study_config, rootdir: Path) -> Path:
    """Select the direction once, here, so every worker steers along the same one (cached on disk)."""
    import os

    from steerbench import progress
    from steerbench.pipeline import open_study

    token = os.environ.get("STEERBENCH_RUN_TOKEN", "") or f"controller-{os.getpid()}"
    study = open_study(study_config, rootdir=rootdir, progress=progress.report, run_token=token)
    return study.selection().root


def _auto_layer(config, model: str) -> int | None:
    from steerbench.selection import load_selection

    root = config.stash.get(selection_root_key, {}).get(model)
    return None if root is None else load_selection(Path(root)).layer


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist: give each worker the controller's selections."""
    roots = node.config.stash.get(selection_root_key, None)
    if roots:
        node.workerinput[WORKERINPUT_SELECTION] = json.dumps(roots)


def _parameters(metafunc: pytest.Metafunc, study) -> tuple[str, list, list[str]] | None:
    """The test's grid parameter for one model's config: (argname, values, ids), or None."""
    n_layers = _n_layers(study.model)
    auto_layer = _auto_layer(metafunc.config, study.model)
    if "cell" in metafunc.fixturenames:
        cells = grid(study, n_layers, auto_layer)
        return "cell", cells, [c.id for c in cells]
    if "robustness_cell" in metafunc.fixturenames:
        # the seed question re-samples each layer x intervention at the robustness alpha only
        cells = sorted({c for c in grid(study, n_layers, auto_layer) if c.alpha == study.robustness_alpha} or
                       {type(c)(c.layer, c.intervention, float(study.robustness_alpha))
                        for c in grid(study, n_layers, auto_layer)})
        return "robustness_cell", cells, [c.id for c in cells]
    if "attack_point" in metafunc.fixturenames:
        # the tampering grid: attack x attacker steps (the untampered step 0 is every point's reference) x seed,
        # attacks interleaved so that xdist workers start on different attacks' training runs, not one each
        t = study.tampering
        points = [(attack, steps, seed) for seed in t.seeds for steps in t.steps if steps > 0 for attack in t.attacks]
        return "attack_point", points, [attack_point_id(*p) for p in points]
    if "attack_name" in metafunc.fixturenames:
        return "attack_name", list(study.tampering.attacks), list(study.tampering.attacks)
    if "layer" in metafunc.fixturenames:
        layers = resolved_layers(study, n_layers, auto_layer)
        return "layer", layers, [f"L{layer}" for layer in layers]
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each research question over its grid; in a cross-model run, over (model, grid point): the model
    is an indirect session-scoped parameter, so each model's Study is set up once per worker, and the
    ids start with the model (``test_gap[gemma3-270m-L9-add-a1]``)."""
    configs = metafunc.config.stash[model_configs_key]
    first = next(iter(configs.values()))
    if not first.models:  # one model: the grid alone, ids as always
        parameters = _parameters(metafunc, first)
        if parameters is not None:
            argname, values, ids = parameters
            metafunc.parametrize(argname, values, ids=ids)
        return
    if "steer_model" not in metafunc.fixturenames:
        return
    per_model = {model: _parameters(metafunc, study) for model, study in configs.items()}
    if per_model[first.model] is None:  # the test has no grid parameter (the same for every model)
        metafunc.parametrize("steer_model", list(configs), ids=list(configs), indirect=True)
        return
    argname = per_model[first.model][0]
    pairs = [(model, value) for model, (_, values, _) in per_model.items() for value in values]
    ids = [f"{model}-{value_id}" for model, (_, _, value_ids) in per_model.items() for value_id in value_ids]
    metafunc.parametrize(("steer_model", argname), pairs, ids=ids, indirect=["steer_model"])
