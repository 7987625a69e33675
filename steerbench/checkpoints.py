"""Local checkpoint files: the one-time GGUF -> safetensors conversion and weight fingerprints.

The embedded model ships as a Q4_1 GGUF. transformers can dequantize it (~20-40 s); we do that once,
under a file lock so parallel pytest-xdist workers wait for one conversion instead of racing, and
write a plain safetensors checkpoint that boots in about a second.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

CONVERSION_VERSION = "1"  # bump when the conversion changes what is written


def steerbench_home() -> Path:
    """Where steerbench keeps converted models (``$STEERBENCH_HOME``, default ``~/.cache/steerbench``)."""
    return Path(os.environ.get("STEERBENCH_HOME", Path.home() / ".cache" / "steerbench"))


def converted_gguf_checkpoint(gguf_path: Path) -> Path:
    """Return a safetensors checkpoint directory for ``gguf_path``, converting it on first use."""
    from filelock import FileLock

    digest = _file_digest(gguf_path)[:16]
    target = steerbench_home() / "models" / f"{gguf_path.stem}-{digest}-v{CONVERSION_VERSION}"
    if (target / "DONE").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / "DONE").exists():
            return target
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        _convert(gguf_path, partial)
        (partial / "DONE").write_text(json.dumps({"source": str(gguf_path), "sha256_16": digest}))
        shutil.rmtree(target, ignore_errors=True)
        os.replace(partial, target)
    return target


def _convert(gguf_path: Path, out_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": gguf_path.name}
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, dtype=torch.float32, **kwargs)
    # transformers marks GGUF-loaded models as quantized and refuses to save them; the tensors are
    # already dequantized to float32, so drop the marker and save a plain checkpoint.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def fingerprint(checkpoint_dir: Path) -> str:
    """sha256 over the checkpoint's weight and config files (cached next to them by size+mtime)."""
    files = sorted(
        p for p in Path(checkpoint_dir).iterdir()
        if p.is_file() and p.suffix in (".safetensors", ".bin", ".json", ".gguf", ".model")
        and not p.name.startswith(".steerbench")
    )
    stamp = json.dumps([(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files])
    sidecar = steerbench_home() / "fingerprints" / (hashlib.sha256(
        (str(Path(checkpoint_dir).resolve()) + stamp).encode()).hexdigest()[:32] + ".txt")
    if sidecar.exists():
        return sidecar.read_text().strip()
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        digest.update(_file_digest(path).encode())
    value = digest.hexdigest()[:20]
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    tmp = sidecar.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(value)
    os.replace(tmp, sidecar)
    return value


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()
