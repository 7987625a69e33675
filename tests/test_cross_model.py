"""Cross-model runs (``pytest evals --models a,b``): one session, one run directory, every model's study.

A real small run on two embedded models under two xdist workers: the rows and evals carry ``model``,
each model has its own run directory under ``models/`` (rendered by the single-model report), the
comparison (scaling.csv / scaling.md / figures) has one row per model, and the organism's rows are
exactly those of a run of the organism alone (its cells, caches and selection are its own).
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import small_run
from test_determinism import _assert_same_rows

pytestmark = pytest.mark.slow

MODELS = ("smollm2-135m-refusal", "smollm2-135m")


@pytest.fixture(scope="module")
def cross_run(tmp_path_factory):
    return small_run(tmp_path_factory.mktemp("cross") / "run", "-n", "2", "--models", ",".join(MODELS))


def test_rows_and_evals_carry_the_model_and_each_model_gets_its_own_report(cross_run):
    results = pd.read_parquet(cross_run / "results.parquet")
    evals = pd.read_parquet(cross_run / "evals.parquet")
    assert list(results.columns[:1]) == ["model"] and set(results["model"]) == set(MODELS)
    assert set(evals["model"]) == set(MODELS)
    run = json.loads((cross_run / "run.json").read_text())
    assert run["config"]["models"] == list(MODELS) and set(run["run_info"]["models"]) == set(MODELS)
    for model in MODELS:
        own = cross_run / "models" / model
        for name in ("results.parquet", "evals.parquet", "run.json", "summary.csv", "examples.md"):
            assert (own / name).is_file(), f"{own / name} missing"
        sub = json.loads((own / "run.json").read_text())
        assert sub["config"]["model"] == model and sub["run_info"]["model"] == model
        assert sub["run_info"]["n_params"] > 100e6 and sub["run_info"]["quantization"] == "Q4_1-dequantized"
        assert set(pd.read_parquet(own / "results.parquet")["model"]) == {model}
    # each model studied along its own direction: the organism's selected diff-in-means, the raw model's contrastive
    methods = {m: json.loads((cross_run / "models" / m / "run.json").read_text())["config"]["direction"]["method"]
               for m in MODELS}
    assert methods == {"smollm2-135m-refusal": "diff_in_means", "smollm2-135m": "contrastive_prefix"}
    # test ids say the model (the longest alias the parameter id starts with)
    def id_model(test_id: str) -> str:
        return max((m for m in MODELS if test_id.split("[", 1)[1].startswith(m + "-")), key=len)

    assert all(id_model(test_id) == model for model, test_id in zip(evals["model"], evals["test_id"]))


def test_the_comparison_has_one_row_per_model(cross_run):
    scaling = pd.read_csv(cross_run / "scaling.csv")
    assert list(scaling["model"]) == list(MODELS)
    assert (cross_run / "scaling.md").read_text().count("smollm2-135m") >= 2
    for name in ("scaling_rrr.png", "scaling_collapse.png"):
        assert (cross_run / "figures" / name).stat().st_size > 1000


def test_a_models_rows_do_not_depend_on_the_other_models_in_the_run(cross_run, small_real_run):
    """The organism's rows in the cross-model run are the organism-only run's rows (the same cells,
    the same draws): a cross-model run is the single-model runs side by side, never a mixture."""
    alone = pd.read_parquet(small_real_run / "results.parquet")
    together = pd.read_parquet(cross_run / "results.parquet")
    together = together[together["model"] == MODELS[0]].reset_index(drop=True)
    _assert_same_rows(alone.reset_index(drop=True), together)
