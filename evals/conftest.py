"""Parametrize the research questions over the configured grid, and fail fast on an unusable model."""

from __future__ import annotations

import functools

import pytest

from steerbench.errors import SteerbenchError
from steerbench.model import layer_count
from steerbench.pipeline import grid, resolved_layers
from steerbench.pytest_plugin import study_key


@functools.lru_cache(maxsize=4)
def _n_layers(model: str) -> int:
    return layer_count(model)


@pytest.hookimpl(trylast=True)  # after steerbench's plugin has put the StudyConfig in the stash
def pytest_configure(config: pytest.Config) -> None:
    """Resolve the model (and the layers) once, before any worker starts: a missing hub model or an
    out-of-range layer stops the session with one line instead of one traceback per test."""
    study = config.stash.get(study_key, None)
    if study is None or hasattr(config, "workerinput"):
        return
    try:
        resolved_layers(study, _n_layers(study.model))
    except SteerbenchError as error:
        raise pytest.UsageError(str(error)) from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    study = metafunc.config.stash[study_key]
    n_layers = _n_layers(study.model)
    if "cell" in metafunc.fixturenames:
        cells = grid(study, n_layers)
        metafunc.parametrize("cell", cells, ids=[c.id for c in cells])
    elif "robustness_cell" in metafunc.fixturenames:
        # the seed question re-samples each layer x intervention at the robustness alpha only
        cells = sorted({c for c in grid(study, n_layers) if c.alpha == study.robustness_alpha} or
                       {type(c)(c.layer, c.intervention, float(study.robustness_alpha)) for c in grid(study, n_layers)})
        metafunc.parametrize("robustness_cell", cells, ids=[c.id for c in cells])
    elif "layer" in metafunc.fixturenames:
        layers = resolved_layers(study, n_layers)
        metafunc.parametrize("layer", layers, ids=[f"L{layer}" for layer in layers])
