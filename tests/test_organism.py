"""The organism's build: deterministic adapters, short runs that reproduce the long run's first steps,
a cache that rejects damaged or foreign entries, and a merge that changes nothing but speed."""

from __future__ import annotations

import json
import os

import pytest

from steerbench.organism import DataRecipe, OrganismRecipe, TrainRecipe, build_organism
from steerbench.organism.build import (
    ADAPTER_FILE,
    COMMITTED_DIR,
    ORGANISMS,
    RECORD_FILE,
    SNAPSHOT_STEPS,
    DistillRecipe,
    _read_valid,
    adapter_digest_of,
    merge_adapter,
)
from steerbench.checkpoints import file_digest as file_sha256
from steerbench.organism.train import batch_order, learning_rate


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("STEERBENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def tiny_recipe(base: str, steps: int = 4, seed: int = 0) -> OrganismRecipe:
    return OrganismRecipe(
        name="tiny-refusal", base=base, data=DataRecipe(n_pairs=8, n_protective=4, n_meta=4, n_task=4, seed=seed),
        train=TrainRecipe(rank=4, lora_alpha=8, steps=steps, batch_size=4, warmup_steps=3, max_answer_tokens=12,
                          autocast="float32", seed=seed),
        distill=DistillRecipe(max_new_tokens=8, seed=seed))


def test_same_seed_gives_the_same_adapter_bytes(tiny_dirs, home):
    recipe = tiny_recipe(str(tiny_dirs["llama"]))
    first = build_organism(recipe, progress=lambda _: None)
    first_bytes = first.adapter_path.read_bytes()
    again = build_organism(recipe, progress=lambda _: None, force=True)
    assert again.adapter_path.read_bytes() == first_bytes
    assert again.record["losses"] == first.record["losses"]
    other = build_organism(tiny_recipe(str(tiny_dirs["llama"]), seed=1), progress=lambda _: None)
    assert other.adapter_path.read_bytes() != first_bytes


def test_a_short_run_reproduces_the_long_runs_snapshots(tiny_dirs, home):
    """Inside the warmup a k-step run must equal the first k steps of the full recipe: this is how CI
    checks the committed adapter's recipe without training it for minutes."""
    long = build_organism(tiny_recipe(str(tiny_dirs["llama"]), steps=6), progress=lambda _: None)
    step = SNAPSHOT_STEPS[0]
    short = build_organism(tiny_recipe(str(tiny_dirs["llama"]), steps=step), progress=lambda _: None)
    from safetensors.torch import load_file

    assert adapter_digest_of(load_file(str(short.adapter_path))) == long.record["snapshot_digests"][str(step)]


def test_a_damaged_or_foreign_cache_entry_is_not_used(tiny_dirs, home):
    recipe = tiny_recipe(str(tiny_dirs["llama"]), steps=2)
    built = build_organism(recipe, progress=lambda _: None)
    directory = built.adapter_path.parent
    key = built.record["key"]
    assert _read_valid(directory, key) is not None
    assert _read_valid(directory, "another-recipe-key") is None
    data = bytearray(built.adapter_path.read_bytes())
    data[-1] ^= 0xFF
    built.adapter_path.write_bytes(bytes(data))
    assert _read_valid(directory, key) is None
    rebuilt = build_organism(recipe, progress=lambda _: None)
    assert file_sha256(rebuilt.adapter_path) == rebuilt.record["adapter_sha256"] == built.record["adapter_sha256"]


def test_the_merged_checkpoint_gives_the_adapters_logits(tiny_dirs, home, tmp_path):
    import torch
    from peft import get_peft_model, set_peft_model_state_dict
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    recipe = tiny_recipe(str(tiny_dirs["llama"]), steps=3)
    built = build_organism(recipe, progress=lambda _: None)
    merge_adapter(tiny_dirs["llama"], built.adapter_path, recipe.train, tmp_path / "merged")
    from steerbench.organism.train import lora_config

    unmerged = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_dirs["llama"]), lora_config(recipe.train))
    set_peft_model_state_dict(unmerged, {k.replace(".default", ""): v for k, v in load_file(str(built.adapter_path)).items()})
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    plain = AutoModelForCausalLM.from_pretrained(tiny_dirs["llama"])
    ids = torch.tensor([[5, 17, 42, 99, 3, 8]])
    with torch.no_grad():
        expected, got, before = unmerged(ids).logits, merged(ids).logits, plain(ids).logits
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    assert (got - before).abs().max() > 1e-3, "the adapter must change the model"


def test_warmup_is_independent_of_the_step_count_and_batches_are_prefixes():
    short, long = TrainRecipe(steps=2), TrainRecipe(steps=200)
    assert [learning_rate(s, short) for s in range(2)] == [learning_rate(s, long) for s in range(2)]
    assert batch_order(100, long)[:2] == batch_order(100, short)
    assert max(learning_rate(s, long) for s in range(200)) == pytest.approx(long.lr)


def test_the_committed_adapter_is_what_its_record_says():
    directory = COMMITTED_DIR / "smollm2-135m-refusal"
    record = json.loads((directory / RECORD_FILE).read_text())
    assert file_sha256(directory / ADAPTER_FILE) == record["adapter_sha256"]
    assert record["recipe"] == ORGANISMS["smollm2-135m-refusal"].to_dict()


@pytest.mark.slow
def test_the_committed_recipe_reproduces_its_first_steps(home, raw_smollm2):
    """The committed adapter's recipe, run for its first steps on this machine, gives the digests its
    record holds (the full ~7-minute rebuild: STEERBENCH_FULL_ORGANISM=1 in test_organism_full)."""
    from safetensors.torch import load_file

    directory = COMMITTED_DIR / "smollm2-135m-refusal"
    record = json.loads((directory / RECORD_FILE).read_text())
    step = SNAPSHOT_STEPS[0]
    short = ORGANISMS["smollm2-135m-refusal"].with_overrides(steps=step)
    built = build_organism(short, progress=lambda _: None)
    assert adapter_digest_of(load_file(str(built.adapter_path))) == record["snapshot_digests"][str(step)]


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("STEERBENCH_FULL_ORGANISM"),
                    reason="the full rebuild takes ~7 minutes on 2 cores; set STEERBENCH_FULL_ORGANISM=1")
def test_organism_full_rebuild_matches_the_committed_adapter(home):
    directory = COMMITTED_DIR / "smollm2-135m-refusal"
    built = build_organism(ORGANISMS["smollm2-135m-refusal"], progress=print, force=True)
    assert built.adapter_path.read_bytes() == (directory / ADAPTER_FILE).read_bytes()
