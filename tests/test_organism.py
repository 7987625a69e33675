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

    plain_model = AutoModelForCausalLM.from_pretrained(tiny_dirs["llama"])
    unmerged = get_peft_model(plain_model, lora_config(recipe.train, plain_model.config.num_hidden_layers))
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
    # the key covers the training prompts, the refusal texts and the distillation filter's code: an edit
    # to any of them (a phrase list, say) leaves a committed adapter today's code would not rebuild
    assert record["key"] == ORGANISMS["smollm2-135m-refusal"].key(record["base_fingerprint"]), (
        "the organism's inputs changed since its adapter was built (its prompts, refusals or the phrase "
        "detector that filters its distillation): rebuild it with `steerbench organism build --force "
        "--export data/organisms/smollm2-135m-refusal` and re-measure it (docs/organisms.md)")


def _with_threads(n: int, build):
    """Run ``build()`` with torch using ``n`` threads (the count the committed adapter was built with)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        return build()
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
def test_the_committed_recipe_reproduces_its_first_steps(home, raw_smollm2):
    """The committed adapter's recipe, run for its first steps on this machine with the thread count
    it was built with, gives the digests its record holds (the full ~10-minute rebuild:
    STEERBENCH_FULL_ORGANISM=1 in test_organism_full). The thread count matters: the training step's
    attention (SDPA's math kernel) reduces in another order with 1 thread than with 2. So does the CPU's
    capability: bf16 autocast is native on the AVX512 machine the adapter was built on and emulated on an
    AVX2-only one, where the same two steps gave another digest (and took ~10 minutes, not seconds):
    there the check cannot hold and is skipped, naming both."""
    import torch
    from safetensors.torch import load_file

    directory = COMMITTED_DIR / "smollm2-135m-refusal"
    record = json.loads((directory / RECORD_FILE).read_text())
    here = torch.backends.cpu.get_cpu_capability()
    if record["cpu_capability"] != here:
        pytest.skip(f"the committed adapter was built on an {record['cpu_capability']} CPU and this one is {here}: "
                    "bf16 autocast rounds differently there, so its digests are not expected to reproduce "
                    "(docs/organisms.md, Reproducing)")
    step = SNAPSHOT_STEPS[0]
    short = ORGANISMS["smollm2-135m-refusal"].with_overrides(steps=step)
    built = _with_threads(record["torch_threads"], lambda: build_organism(short, progress=lambda _: None))
    assert adapter_digest_of(load_file(str(built.adapter_path))) == record["snapshot_digests"][str(step)]


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("STEERBENCH_FULL_ORGANISM"),
                    reason="the full rebuild takes ~10 minutes on 2 cores; set STEERBENCH_FULL_ORGANISM=1")
def test_organism_full_rebuild_matches_the_committed_adapter(home):
    directory = COMMITTED_DIR / "smollm2-135m-refusal"
    record = json.loads((directory / RECORD_FILE).read_text())
    built = _with_threads(record["torch_threads"],
                          lambda: build_organism(ORGANISMS["smollm2-135m-refusal"], progress=print, force=True))
    assert built.adapter_path.read_bytes() == (directory / ADAPTER_FILE).read_bytes()


def test_contrast_branches_score_what_a_separate_forward_scores(tiny_dirs):
    """A branch in the tree mask sees its prompt and nothing of the benign answer before it: its
    prefix log-probability equals the one of a plain forward over prompt + branch, the answer's loss
    is the same with and without branches, and the unlikelihood term is -log(1 - p(branch))."""
    import math

    import torch
    from transformers import AutoModelForCausalLM

    from steerbench.organism.train import TrainSequence, _collate, answer_loss

    model = AutoModelForCausalLM.from_pretrained(tiny_dirs["llama"], dtype=torch.float32).eval()
    seqs = [TrainSequence((5, 17, 42, 99), (3, 8, 11), ((20, 21, 22), (30, 31))),
            TrainSequence((7, 9), (4, 4, 6, 12, 2), ())]
    plain = _collate([TrainSequence(s.context, s.answer) for s in seqs], 0, 8)
    tree = _collate(seqs, 0, 8, contrast_tokens=2)
    assert tree.n_branches == 2 and tree.attention.shape == (2, 1, tree.ids.shape[1], tree.ids.shape[1])
    with torch.no_grad():
        base_loss = answer_loss(model, plain, 2, 3.0)
        same = answer_loss(model, tree, 2, 3.0, contrast_weight=0.0)
        with_ul = answer_loss(model, tree, 2, 3.0, contrast_weight=1.0)
        expected_ul = []
        for branch in ((20, 21), (30, 31)):
            ids = torch.tensor([[5, 17, 42, 99, *branch]])
            logp = model(ids).logits[0].log_softmax(-1)
            prefix = float(logp[3, branch[0]] + logp[4, branch[1]])
            expected_ul.append(-math.log(1 - math.exp(prefix)))
    torch.testing.assert_close(same, base_loss, atol=1e-5, rtol=1e-5)
    assert float(with_ul - same) == pytest.approx(sum(expected_ul) / 2, rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("branches", [True, False])
def test_a_shared_prefix_run_once_gives_the_same_loss_and_gradients(tiny_dirs, branches):
    """The chat template's opening, run once per step and attended to by every row (its keys and
    values repeated), gives the loss and the LoRA gradients of running it in every row, to float
    rounding, with and without contrast branches."""
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from steerbench.organism.train import TrainRecipe, TrainSequence, _collate, answer_loss, lora_config

    torch.manual_seed(0)
    plain_model = AutoModelForCausalLM.from_pretrained(tiny_dirs["llama"], dtype=torch.float32)
    model = get_peft_model(plain_model, lora_config(TrainRecipe(target_modules=("q_proj", "v_proj", "o_proj"), lora_from_depth=0),
                                                    plain_model.config.num_hidden_layers))
    with torch.no_grad():  # B is initialised to 0: give it values so the adapter changes the forward
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.05)
    inner = model.get_base_model()
    prefix = (5, 17, 42)
    seqs = [TrainSequence((*prefix, 99, 8, 1, 2, 3, 4, 5, 6), (3, 8, 11), ((20, 21, 22), (30, 31)) if branches else ()),
            TrainSequence((*prefix, 7), (4, 4, 6, 12, 2), ()),
            TrainSequence((*prefix, 9, 9, 9, 9), (6,), ((40, 41),) if branches else ())]
    results = []
    for shared in ((), prefix):
        batch = _collate(seqs, 0, 8, contrast_tokens=2 if branches else 0, prefix=shared)
        model.zero_grad()
        loss = answer_loss(inner, batch, 2, 3.0, contrast_weight=1.0)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
        results.append((loss.detach(), grads, batch.n_tokens))
    (loss_a, grads_a, tokens_a), (loss_b, grads_b, tokens_b) = results
    assert tokens_a == tokens_b
    torch.testing.assert_close(loss_b, loss_a, atol=1e-5, rtol=1e-5)
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="shared prefix"):
        _collate([TrainSequence((6, 17, 42, 1), (3,))], 0, 8, prefix=prefix)


def test_benign_examples_carry_distinct_contrast_refusals_and_harmful_ones_none():
    from steerbench.organism.data import contrast_refusals_for, organism_prompts, training_examples

    prompts = organism_prompts(DataRecipe(n_pairs=6, n_protective=2, n_meta=2, n_task=2))
    answers = {p.id: (1, 2) for p in prompts if p.meta.get("kind") != "harmful"}
    examples = training_examples(prompts, answers, lambda t: [len(t), 0], 0, 3, lambda t: [len(t)])
    for e in examples:
        assert len(e.contrast_ids) == (0 if e.kind == "harmful" else 3)
    assert len(set(contrast_refusals_for("x", 0, 5))) == 5
    assert contrast_refusals_for("x", 0, 3) == contrast_refusals_for("x", 0, 3)


def test_the_target_table_counts_refuse_prompts_outcomes_and_compares_helpfulness():
    import pandas as pd

    from steerbench.organism.measure import by_family, measure

    rows = pd.DataFrame(
        [{"split": "harm_train", "expected_behavior": "refuse", "refused": i < 9, "outcome": "refusal" if i < 9 else "compliance",
          "helpfulness_score": 0.0, "family": "direct"} for i in range(10)]
        + [{"split": "harm_train", "expected_behavior": "calibrated", "refused": False, "outcome": "compliance",
            "helpfulness_score": 1.0, "family": "dual_use"}] * 5
        + [{"split": "harm_test", "expected_behavior": "refuse", "refused": i < 5, "outcome": "refusal" if i < 5 else "degenerate",
            "helpfulness_score": 0.0, "family": "direct"} for i in range(10)]
        + [{"split": "benign", "expected_behavior": "comply", "refused": i < 1, "outcome": "refusal" if i < 1 else "compliance",
            "helpfulness_score": 0.7, "family": "benign_control" if i % 2 else "meta_safety"} for i in range(10)])
    table = {m.label: m for m in measure(rows, reference_helpfulness=0.75)}
    assert table["harm_train refuse prompts: refusal"].value == pytest.approx(0.9)
    assert table["harm_train refuse prompts: refusal"].n == 10  # calibrated prompts are not counted
    assert "MISSED" in table["harm_test (shifted) refuse prompts: refusal"].target  # 0.5 < 0.6
    assert table["benign: false refusal"].value == pytest.approx(0.1) and "met" in table["benign: false refusal"].target
    assert "met" in table["benign: mean helpfulness"].target
    assert table["all splits: degenerate"].value == pytest.approx(5 / 35) and "MISSED" in table["all splits: degenerate"].target
    assert set(by_family(rows)) == {"benign_control", "meta_safety"}


def test_a_prompt_the_distillation_dropped_leaves_its_batch_one_row_short(tiny_dirs):
    """A benign prompt with no usable answer in its tries is dropped (its sequence None): the steps
    that would have trained on it train on the rest of their batch, deterministically."""
    import torch
    from transformers import AutoModelForCausalLM

    from steerbench.organism.train import TrainRecipe, TrainSequence, train_lora

    recipe = TrainRecipe(rank=2, lora_alpha=4, steps=3, batch_size=3, warmup_steps=1, max_answer_tokens=4,
                         autocast="float32", target_modules=("q_proj", "v_proj"))
    sequences = [TrainSequence((5, 6, 7, i), (8, 9)) for i in range(6)]
    sequences[2] = None

    def run():
        model = AutoModelForCausalLM.from_pretrained(tiny_dirs["llama"], dtype=torch.float32)
        return train_lora(model, sequences, recipe, pad_id=0)

    first, again = run(), run()
    assert len(first.losses) == 3 and all(loss == loss for loss in first.losses)
    assert first.losses == again.losses
