"""The cached study stages on a tiny model: subsets of grid cells are filtered, not regenerated."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from steerbench.config import load_config
from steerbench.interventions import BASELINE, Cell
from steerbench.pipeline import open_study

REPO = Path(__file__).resolve().parents[1]
EXACT = ["prompt_id", "completion", "n_tokens", "ended_eos", "is_refusal", "outcome", "cell", "seed"]
CLOSE = ["mean_logprob", "mean_entropy", "fluency_logprob", "refusal_logodds"]


def _study(tiny_model, cache: Path, alphas: str):
    overrides = {"profile": "ci", "n_prompts": 6, "generation.max_new_tokens": 4, "generation.batch_size": 4,
                 "layers": "1", "alphas": alphas, "interventions": "add", "cache_dir": str(cache)}
    return open_study(load_config(rootdir=REPO, overrides=overrides), rootdir=REPO, model=tiny_model)


@pytest.mark.parametrize("cell", [BASELINE, Cell(1, "add", 1.0)], ids=["baseline", "steered"])
def test_subset_rows_of_a_grid_cell_equal_a_direct_generation_of_the_subset(tiny_llama, tmp_path, cell):
    in_grid = _study(tiny_llama, tmp_path / "grid", "0,1")
    derived_path = in_grid.rows_path(cell, "harm_test", subset=3)
    assert derived_path.name.endswith("-subset3.parquet")  # filtered from the whole split's rows
    assert in_grid.rows_path(cell, "harm_test").exists()
    # alpha 2 only: the cell is outside this grid, so its subset is generated on its own
    outside = _study(tiny_llama, tmp_path / "outside", "0,2")
    direct_path = outside.rows_path(cell, "harm_test", subset=3) if cell != BASELINE else None
    derived = pd.read_parquet(derived_path)
    assert list(derived["prompt_id"]) == [p.id for p in in_grid.splits["harm_test"].limit(3)]
    if direct_path is not None:
        assert not direct_path.name.endswith("-subset3.parquet")
        direct = pd.read_parquet(direct_path)
        pd.testing.assert_frame_equal(derived[EXACT], direct[EXACT])
        pd.testing.assert_frame_equal(derived[CLOSE], direct[CLOSE], atol=1e-4, rtol=0)


@pytest.mark.parametrize("cell", [BASELINE, Cell(1, "add", 1.0), Cell(1, "add", 0.0)], ids=["baseline", "steered", "alpha0"])
def test_a_standalone_subset_of_a_grid_cell_never_generates_the_whole_split(tiny_llama, tmp_path, cell):
    """The sanity checks' sample: generated as the subset alone, whatever is cached, with the completions the
    whole split's rows hold for those prompts (common random numbers)."""
    study = _study(tiny_llama, tmp_path, "0,1")
    alone = pd.read_parquet(study.rows_path(cell, "harm_test", subset=3, standalone=True))
    generated = list((tmp_path / "rows").glob("*.parquet"))
    assert generated and all(len(pd.read_parquet(f)) == 3 for f in generated), "the whole split was generated"
    assert list(alone["prompt_id"]) == [p.id for p in study.splits["harm_test"].limit(3)]
    whole = pd.read_parquet(study.rows_path(cell, "harm_test")).head(3)
    pd.testing.assert_frame_equal(alone[EXACT].reset_index(drop=True), whole[EXACT].reset_index(drop=True))
    # and once the whole split is cached, the standalone subset is still its own entry, not a filtered copy
    assert not study.rows_path(cell, "harm_test", subset=3, standalone=True).name.endswith("-subset3.parquet")


def test_other_seeds_and_variants_of_a_subset_are_generated_for_the_subset_only(tiny_llama, tmp_path):
    study = _study(tiny_llama, tmp_path, "0,1")
    path = study.rows_path(Cell(1, "add", 1.0), "harm_test", subset=3, seed=42)
    assert not path.name.endswith("-subset3.parquet") and len(pd.read_parquet(path)) == 3


def test_identity_completions_are_generated_through_the_hook_and_cached(tiny_llama, tmp_path, monkeypatch):
    import steerbench.generation

    study = _study(tiny_llama, tmp_path, "0,1")
    baseline = study.rows(BASELINE, "harm_test", subset=3).set_index("prompt_id")["completion"]
    seen = []
    real_generate = steerbench.generation.generate
    monkeypatch.setattr(steerbench.generation, "generate",
                        lambda model, requests, *a, **k: seen.extend(requests) or real_generate(model, requests, *a, **k))
    texts = study.identity_completions(Cell(1, "ablate", 0.0), "harm_test", subset=3)
    assert texts == baseline.to_dict()
    assert len(seen) == 3 and all(r.steer.force and r.steer.coef == 0.0 for r in seen)
    assert study.identity_completions(Cell(1, "ablate", 0.0), "harm_test", subset=3) == texts and len(seen) == 3  # cached
    with pytest.raises(ValueError, match="alpha = 0"):
        study.identity_completions(Cell(1, "add", 1.0), "harm_test")


def test_every_row_file_has_exactly_the_results_schema(tiny_llama, tmp_path):
    """Generated, relabelled (alpha 0) and subset rows all carry rows.RESULTS_SCHEMA, in order and
    dtype, with the direction's natural scale and the norm each cell adds."""
    from steerbench.rows import RESULTS_SCHEMA

    study = _study(tiny_llama, tmp_path, "0,1")
    scale = study.direction(1).scale
    frames = {name: study.rows(cell, "harm_test", **kw) for name, cell, kw in (
        ("baseline", BASELINE, {}), ("add1", Cell(1, "add", 1.0), {}), ("add0", Cell(1, "add", 0.0), {}),
        ("subset", Cell(1, "add", 1.0), {"subset": 3}))}
    for name, frame in frames.items():
        assert list(frame.columns) == list(RESULTS_SCHEMA), name
        assert {c: str(t) for c, t in frame.dtypes.items()} == {c: t if t != "object" else str(frame[c].dtype)
                                                               for c, t in RESULTS_SCHEMA.items()}, name
    assert frames["baseline"]["direction_scale"].isna().all() and (frames["baseline"]["added_norm"] == 0).all()
    assert frames["add1"]["direction_scale"].tolist() == pytest.approx([scale] * len(frames["add1"]))
    assert frames["add1"]["added_norm"].tolist() == pytest.approx([scale] * len(frames["add1"]))  # alpha 1, natural units
    assert (frames["add0"]["added_norm"] == 0).all()
    assert frames["add0"]["direction_scale"].tolist() == pytest.approx([scale] * len(frames["add0"]))
    assert set(frames["baseline"]["expected_behavior"]) <= {"refuse", "calibrated", "comply"}


def test_the_contract_documents_every_results_column():
    from steerbench.rows import RUN_SCHEMA

    contract = (REPO / "docs" / "CONTRACTS.md").read_text()
    section = contract[contract.index("`results.parquet`: one row"):contract.index("`evals.parquet`: one row")]
    missing = [c for c in RUN_SCHEMA if c not in section]
    assert not missing, f"docs/CONTRACTS.md does not document {missing}"


def test_scored_rows_are_keyed_by_the_metric_code_itself():
    """The scored rows' cache suffix hashes every text-metric source file: editing a phrase or a
    threshold re-scores cached completions even when METRICS_VERSION is not bumped."""
    import hashlib
    from pathlib import Path

    import steerbench.pipeline as pipeline

    metrics_dir = Path(pipeline.__file__).resolve().parent / "metrics"
    digest = hashlib.sha256(pipeline.METRICS_VERSION.encode())
    for path in sorted(metrics_dir.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    from steerbench.metrics.classifier import load_classifier, load_degeneration_classifier

    digest.update(b"classifier\0" + load_classifier().fingerprint.encode())  # refitted weights re-score too
    digest.update(b"degeneration\0" + load_degeneration_classifier().fingerprint.encode())
    assert pipeline.metrics_fingerprint() == f"{pipeline.METRICS_VERSION}-{digest.hexdigest()[:10]}"
    assert "phrases.py" in {p.name for p in metrics_dir.glob("*.py")}


def test_the_untampered_mean_differences_are_computed_once_and_read_back_exactly(tiny_llama, tmp_path):
    """Persistence compares every checkpoint with the untampered model's diff-in-means: cached once, same values."""
    import types

    import torch

    from steerbench.tampering.persistence import mean_differences

    study = _study(tiny_llama, tmp_path / "cache", "0,1")
    selection = types.SimpleNamespace(root=tmp_path / "selection-key", position=-1)
    first = study._untampered_mean_differences(selection)
    written = sorted((tmp_path / "cache" / "tampering" / "directions").glob("*.safetensors"))
    assert len(written) == 1
    again = study._untampered_mean_differences(selection)
    direct = mean_differences(tiny_llama, study.direction_prompts("harm_train").texts(),
                              study.direction_prompts("benign").texts(), -1)
    assert torch.equal(first, again) and torch.equal(first, direct) and first.shape == (tiny_llama.n_layers, 64)
