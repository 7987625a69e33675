"""The numerics policy of the GPU path, on numbers and on the CPU: dtype auto, the cache identity that
separates numerics, batch size auto from free memory, and the one-line error for an absent GPU."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from steerbench import checkpoints
from steerbench.cache import key_of
from steerbench.cli import main
from steerbench.config import GenerationConfig, load_config
from steerbench.device import (
    CPU_BATCH_SIZE,
    MAX_AUTO_BATCH,
    ModelShape,
    auto_batch_size,
    batch_size_for,
    cache_identity,
    resolve_dtype,
    row_bytes,
)
from steerbench.errors import ConfigError
from steerbench.model import load_model
from steerbench.tampering import attacked

# SmolLM2-135M (the default model's architecture): 30 blocks, 9 query heads over 3 key/value heads of 64
SMOLLM2 = ModelShape(n_layers=30, n_heads=9, n_kv_heads=3, head_dim=64, d_model=576, d_mlp=1536, vocab_size=49152)
GIB = 1 << 30


def test_auto_dtype_is_float32_off_cuda_and_named_dtypes_pass_through():
    assert resolve_dtype("auto", "cpu") == "float32" and resolve_dtype("auto", "mps") == "float32"
    assert resolve_dtype("bfloat16", "cpu") == "bfloat16" and resolve_dtype("float16", "cuda:3") == "float16"
    with pytest.raises(ConfigError, match="use one of auto, float32, bfloat16, float16"):
        resolve_dtype("fp8", "cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: auto's CUDA choice reads the device")
def test_auto_dtype_on_cuda_is_bfloat16_where_native():
    native = torch.cuda.get_device_properties(0).major >= 8
    assert resolve_dtype("auto", "cuda") == ("bfloat16" if native else "float16")


def test_the_cache_identity_separates_numerics_and_keeps_every_cpu_float32_key(tiny_dirs, tiny_llama):
    """Rows, directions and selections are keyed by SteerModel.fingerprint: the same checkpoint in bfloat16
    (or on a GPU) must not read float32 CPU entries, while the float32 CPU identity stays the checkpoint's
    fingerprint, as every existing cache entry, committed organism record and reference was keyed."""
    weights = checkpoints.fingerprint(tiny_dirs["llama"])
    bf16 = load_model(str(tiny_dirs["llama"]), device="cpu", dtype="bfloat16")
    assert tiny_llama.fingerprint == tiny_llama.weights_fingerprint == weights
    assert bf16.weights_fingerprint == weights and bf16.fingerprint != weights
    identities = {cache_identity(weights, device, dtype) for device in ("cpu", "cuda", "mps")
                  for dtype in ("float32", "bfloat16", "float16")}
    assert len(identities) == 9  # every (device type, dtype) its own
    assert cache_identity(weights, "cuda:1", "bfloat16") == cache_identity(weights, "cuda", "bfloat16")


def test_an_attacked_view_keeps_its_numerics_and_the_float32_cpu_key_it_always_had(tiny_llama):
    """A LoRA-merged view renames the weights; its cache identity still carries the numerics, and on the
    CPU in float32 it is today's key_of({"attacked": fingerprint, "adapter": digest})."""
    name = "base_model.model.model.layers.0.self_attn.q_proj.lora_{}.default.weight"
    d = tiny_llama.d_model
    adapter = {name.format("A"): torch.full((2, d), 0.01), name.format("B"): torch.full((d, 2), 0.01)}
    with attacked(tiny_llama, adapter, rank=2, lora_alpha=4, digest="abc") as view:
        assert view.fingerprint == key_of({"attacked": tiny_llama.fingerprint, "adapter": "abc"})
        on_gpu = dataclasses.replace(view, device="cuda", dtype="bfloat16")
        assert on_gpu.fingerprint == cache_identity(view.weights_fingerprint, "cuda", "bfloat16") != view.fingerprint


def test_a_row_costs_its_kv_cache_activations_and_logits():
    kv_cache = 2 * 30 * 3 * 64 * 200 * 2  # 2 (K, V) x layers x kv heads x head dim x tokens x bf16 bytes
    activations = 200 * (4 * 576 + 3 * 1536) * 2 + 9 * 200 * 200 * 4
    logits = 49152 * (2 + 5 * 4)
    assert row_bytes(SMOLLM2, 200, "bfloat16") == kv_cache + activations + logits  # ~9.9 MB
    assert row_bytes(SMOLLM2, 200, "float32") > row_bytes(SMOLLM2, 200, "bfloat16")
    assert row_bytes(SMOLLM2, 200, "bfloat16", logit_positions=80) > row_bytes(SMOLLM2, 200, "bfloat16")


def test_auto_batch_size_from_given_free_memory():
    per_row = row_bytes(SMOLLM2, 200, "bfloat16")
    assert auto_batch_size(int(10 * per_row / 0.5), SMOLLM2, 200, "bfloat16") == 10  # half the free memory
    assert auto_batch_size(70 * GIB, SMOLLM2, 200, "bfloat16") == MAX_AUTO_BATCH  # an idle H100: the cap
    assert auto_batch_size(1 << 20, SMOLLM2, 200, "bfloat16") == 1  # never zero: the engine needs a row
    assert auto_batch_size(2 * GIB, SMOLLM2, 1000, "bfloat16") < auto_batch_size(2 * GIB, SMOLLM2, 200, "bfloat16")


@given(free=st.integers(0, 1 << 40), seq_len=st.integers(1, 4096), positions=st.integers(1, 128),
       dtype=st.sampled_from(["float32", "bfloat16", "float16"]))
def test_auto_batch_size_fits_its_memory_share_and_stays_in_range(free, seq_len, positions, dtype):
    batch = auto_batch_size(free, SMOLLM2, seq_len, dtype, positions)
    assert 1 <= batch <= MAX_AUTO_BATCH
    assert batch == 1 or batch * row_bytes(SMOLLM2, seq_len, dtype, positions) <= free * 0.5
    more = auto_batch_size(free * 2, SMOLLM2, seq_len, dtype, positions)
    assert more >= batch  # more free memory never means a smaller batch


def test_batch_size_auto_is_32_off_cuda_and_integers_pass_through(tiny_llama):
    assert batch_size_for("auto", tiny_llama, seq_len=120) == CPU_BATCH_SIZE == 32
    assert batch_size_for(7, tiny_llama, seq_len=120) == 7


def test_a_cpu_config_resolves_auto_to_what_it_always_was(tmp_path):
    """dtype and generation.batch_size default to auto; on a machine without CUDA the loaded config says
    float32 and 32, so run.json, the run id and every rows cache key (which hashes the generation
    settings) are those of a run before auto existed."""
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: auto resolves to the GPU's dtype")
    config = load_config(rootdir=tmp_path)
    assert config.dtype == "float32" and config.generation.batch_size == 32
    assert dataclasses.asdict(config.generation) == dataclasses.asdict(GenerationConfig(max_new_tokens=32, batch_size=32))
    assert load_config(rootdir=tmp_path, overrides={"device": "cpu", "dtype": "auto"}).dtype == "float32"


def test_dtype_and_batch_size_settings_are_validated(tmp_path):
    assert load_config(rootdir=tmp_path, overrides={"dtype": "bfloat16", "device": "cpu"}).dtype == "bfloat16"
    yaml_file = tmp_path / "study.yaml"
    yaml_file.write_text("generation: {batch_size: 8}\n")
    assert load_config(rootdir=tmp_path, yaml_path=yaml_file).generation.batch_size == 8
    with pytest.raises(ConfigError, match="flag --dtype: 'fp8' is not one of auto, float32, bfloat16, float16"):
        load_config(rootdir=tmp_path, overrides={"dtype": "fp8"})
    yaml_file.write_text("generation: {batch_size: big}\n")
    with pytest.raises(ConfigError, match=r"study.yaml:1 key 'generation.batch_size'.*expected auto .* or an integer"):
        load_config(rootdir=tmp_path, yaml_path=yaml_file)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_bench_on_an_absent_gpu_is_one_line(tiny_dirs, capsys):
    code = main(["bench", "--model", str(tiny_dirs["llama"]), "--device", "cuda", "--json"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err == "steerbench: error: --device cuda: CUDA is not available on this machine; use --device cpu\n"
