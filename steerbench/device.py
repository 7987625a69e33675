"""Where a model runs and in what precision: the device, what dtype ``auto`` means there, the identity
those numerics give a model in cache keys, and the batch size ``auto`` picks from free GPU memory.

What reads the machine (CUDA present? bf16 kernels? free memory?) is a thin wrapper around a pure
function of numbers, so the policy itself is tested on a CPU with given figures (tests/test_device.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from steerbench.errors import ConfigError
from steerbench.vocab import AUTO, CONFIG_DTYPES

SUPPORTED_DEVICE_TYPES = ("cpu", "cuda", "mps")
# generation.batch_size auto anywhere but CUDA: the engine's CPU default since issue 2 (docs/performance.md);
# the rows of every CPU run are the rows it always gave (they do not depend on the batch size anyway)
CPU_BATCH_SIZE = 32
# a cap on rows per pass: it bounds a pass over a large split; a ~100M-parameter model is launch-bound far
# below it (docs/performance.md "GPU", an estimate)
MAX_AUTO_BATCH = 512
# Share of the free memory a batch may plan for: the per-row estimate below leaves out the allocator's
# fragmentation, cuBLAS workspaces and what the prefill memo (forward.PrefillMemo, up to 1 GiB) keeps.
AUTO_BATCH_MEMORY_FRACTION = 0.5
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
SAMPLING_FLOAT32_COPIES = 5  # of each kept logit row: .float(), log-softmax, probabilities, entropy terms, top-k


def pick_device(device: str | None) -> str:
    """The torch device to run on: ``device`` checked against this machine (None / auto picks).

    Raises:
        ConfigError: an unknown device string, CUDA (or that CUDA index) or MPS absent here.
    """
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise ConfigError(f"--device {device}: not a device string; use cpu, cuda, cuda:N, mps or auto") from None
    if parsed.type not in SUPPORTED_DEVICE_TYPES:
        raise ConfigError(f"--device {device}: steerbench runs on {', '.join(SUPPORTED_DEVICE_TYPES)}; use --device cpu")
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {device}: CUDA is not available on this machine; use --device cpu")
        count = torch.cuda.device_count()
        if parsed.index is not None and parsed.index >= count:
            raise ConfigError(f"--device {device}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"--device {device}: MPS is not available on this machine; use --device cpu")
    return device


def device_type(device: str) -> str:
    """``cuda:1`` -> ``cuda``."""
    return str(device).split(":", 1)[0]


def resolve_dtype(dtype: str, device: str) -> str:
    """The dtype a model loads in: ``dtype`` itself, or for ``auto`` bfloat16 on a CUDA device with native
    bf16 (Ampere and later), float16 on an older one, float32 on CPU and MPS.

    Raises:
        ConfigError: ``dtype`` is not one of the vocabulary's (vocab.CONFIG_DTYPES).
    """
    if dtype not in CONFIG_DTYPES:
        raise ConfigError(f"dtype '{dtype}' is not supported; use one of {', '.join(CONFIG_DTYPES)}")
    if dtype != AUTO:
        return dtype
    if device_type(device) != "cuda":
        return "float32"
    import torch

    with torch.cuda.device(torch.device(device)):  # emulated bf16 (pre-Ampere) is slower than float16
        return "bfloat16" if torch.cuda.is_bf16_supported(including_emulation=False) else "float16"


def cache_identity(weights_fingerprint: str, device: str, dtype: str) -> str:
    """What every cache key calls a loaded model: its weights and the numerics they run in.

    float32 on the CPU, the numerics every cache entry, committed record and reference was made in before
    numerics entered the key, is the weights fingerprint itself, so none of those moves. Any other device
    type or dtype gives another identity: bf16 rows on a GPU are other rows, never read as the CPU's. The
    device index and the GPU model are left out, as the CPU's instruction set is (docs/design_decisions.md
    "Numerics in the cache identity").
    """
    kind = device_type(device)
    if (kind, dtype) == ("cpu", "float32"):
        return weights_fingerprint
    return hashlib.sha256(f"{weights_fingerprint}|{kind}|{dtype}".encode()).hexdigest()[:20]


@dataclass(frozen=True)
class ModelShape:
    """The sizes that decide a batch row's memory."""

    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    d_model: int
    d_mlp: int
    vocab_size: int

    @classmethod
    def of(cls, hf_config) -> "ModelShape":
        """Read from an HF config (Llama / Qwen2 / Phi-3 / Gemma / GPT-NeoX names)."""
        heads = int(hf_config.num_attention_heads)
        d_model = int(hf_config.hidden_size)
        head_dim = getattr(hf_config, "head_dim", None) or d_model // heads
        return cls(n_layers=int(hf_config.num_hidden_layers), n_heads=heads,
                   n_kv_heads=int(getattr(hf_config, "num_key_value_heads", None) or heads), head_dim=int(head_dim),
                   d_model=d_model, d_mlp=int(getattr(hf_config, "intermediate_size", None) or 4 * d_model),
                   vocab_size=int(hf_config.vocab_size))


def row_bytes(shape: ModelShape, seq_len: int, dtype: str, logit_positions: int = 1) -> int:
    """Device memory one batch row needs at ``seq_len`` tokens (prompt + new tokens).

    The KV cache, 2 x layers x kv heads x head dim x tokens in the model's dtype, grows to the end; on top
    of it one block's transient activations at the prefill (residual, q/k/v/o, the MLP's three
    intermediate-width tensors, and float32 attention scores should the kernel materialise them) and the
    kept logits with sampling's float32 copies of them.
    """
    width = DTYPE_BYTES[dtype]
    kv_cache = 2 * shape.n_layers * shape.n_kv_heads * shape.head_dim * seq_len * width
    activations = seq_len * (4 * shape.d_model + 3 * shape.d_mlp) * width + shape.n_heads * seq_len * seq_len * 4
    logits = max(1, logit_positions) * shape.vocab_size * (width + 4 * SAMPLING_FLOAT32_COPIES)
    return kv_cache + activations + logits


def auto_batch_size(free_bytes: int, shape: ModelShape, seq_len: int, dtype: str, logit_positions: int = 1,
                    fraction: float = AUTO_BATCH_MEMORY_FRACTION) -> int:
    """Rows per forward pass that fit ``fraction`` of ``free_bytes``, clamped to [1, MAX_AUTO_BATCH]."""
    fitting = int(free_bytes * fraction) // row_bytes(shape, seq_len, dtype, logit_positions)
    return max(1, min(MAX_AUTO_BATCH, fitting))


def free_bytes(device: str) -> int:
    """Memory a new allocation on CUDA ``device`` can use: the driver's free memory plus what torch's
    caching allocator holds reserved but unused (it hands that out first)."""
    import torch

    index = torch.device(device)
    free, _ = torch.cuda.mem_get_info(index)
    return int(free + torch.cuda.memory_reserved(index) - torch.cuda.memory_allocated(index))


def batch_size_for(requested: int | str, model, seq_len: int, logit_positions: int = 1) -> int:
    """The rows per pass for ``requested`` (an integer, or ``auto``): on CUDA, ``auto`` is sized from the
    free memory now and the model's shape (``auto_batch_size``); elsewhere it is CPU_BATCH_SIZE."""
    if requested != AUTO:
        return int(requested)
    if device_type(model.device) != "cuda":
        return CPU_BATCH_SIZE
    return auto_batch_size(free_bytes(model.device), ModelShape.of(model.hf_model.config), seq_len, model.dtype,
                           logit_positions)


def configured_batch_size(requested: int | str, device: str) -> int | str:
    """What a config's ``generation.batch_size`` becomes once its device is known: ``auto`` stays auto on
    CUDA (each batch is sized when it runs) and is CPU_BATCH_SIZE elsewhere, so a CPU run's cache keys
    are the keys they always were."""
    return requested if requested != AUTO or device_type(device) == "cuda" else CPU_BATCH_SIZE


def synchronize(device: str) -> None:
    """Wait for the device's queued work (a timer around GPU work measures the launches otherwise)."""
    import torch

    kind = device_type(device)
    if kind == "cuda":
        torch.cuda.synchronize(torch.device(device))
    elif kind == "mps":
        torch.mps.synchronize()


def device_name(device: str) -> str | None:
    """The GPU's name (``NVIDIA H100 80GB HBM3``), or None on the CPU."""
    import torch

    if device_type(device) == "cuda":
        return torch.cuda.get_device_name(torch.device(device))
    return "Apple MPS" if device_type(device) == "mps" else None
