"""Shared fixtures for steerbench's own tests: tiny random checkpoints, loaded once per session.

The tiny models (4 layers, d_model 64) exercise every real code path of the engine in about a
second; the embedded default (SmolLM2-135M) is loaded only by tests marked ``slow``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

try:  # one definition of the profiles, shared with whoever else imports it
    import _hypothesis_profiles  # noqa: F401
except ImportError:
    settings.register_profile("ci", derandomize=True, deadline=None)

if os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])
elif os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def torch_threads() -> int:
    """Run torch single-threaded (``STEERBENCH_TEST_THREADS`` overrides).

    Tiny models gain nothing from intra-op threads, and on a small shared machine OpenMP threads
    spin against each other: a 64-wide matmul took 8 ms with 2 threads under load, 0.3 ms with 1.
    """
    import torch

    torch.set_num_threads(int(os.environ.get("STEERBENCH_TEST_THREADS", "1")))
    return torch.get_num_threads()


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory, torch_threads) -> dict[str, Path]:
    """Checkpoint directories of tiny random GPT-NeoX and Gemma 3 (plain prompts) and Llama, Qwen2 and Phi-3
    (chat) models."""
    from tiny_models import make_checkpoint

    root = tmp_path_factory.mktemp("tiny_checkpoints")
    return {arch: make_checkpoint(root, arch) for arch in ("gpt_neox", "llama", "gemma3", "qwen2", "phi3")}


def _tiny(arch: str):
    """A session fixture loading the tiny ``arch`` checkpoint of ``tiny_dirs``."""

    @pytest.fixture(scope="session")
    def fixture(tiny_dirs):
        from steerbench.model import load_model

        return load_model(str(tiny_dirs[arch]), device="cpu")

    return fixture


tiny_neox, tiny_llama, tiny_gemma = _tiny("gpt_neox"), _tiny("llama"), _tiny("gemma3")
tiny_qwen2, tiny_phi3 = _tiny("qwen2"), _tiny("phi3")


# every family the study's models come from (issue 13: the Qwen2 / Qwen2.5 and Phi-3 chat models load by alias)
TINY_FIXTURES = {"gpt_neox": "tiny_neox", "llama": "tiny_llama", "gemma3": "tiny_gemma", "qwen2": "tiny_qwen2",
                 "phi3": "tiny_phi3"}


@pytest.fixture(scope="session", params=list(TINY_FIXTURES))
def tiny_model(request):
    """Each tiny architecture in turn (for tests that must hold on every family)."""
    return request.getfixturevalue(TINY_FIXTURES[request.param])


@pytest.fixture(scope="session")
def raw_smollm2(torch_threads):
    """The raw embedded SmolLM2-135M-Instruct (the organism's base), loaded with the hub switched off.

    The first use converts the GGUF (~40 s); later loads take ~5 s.
    """
    import huggingface_hub.constants as hf_constants

    from steerbench.model import load_model

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
        return load_model("smollm2-135m")


@pytest.fixture(scope="session")
def organism(torch_threads):
    """The refusal organism (SmolLM2 + the committed LoRA adapter, merged once into the cache)."""
    import huggingface_hub.constants as hf_constants

    from steerbench.model import load_model

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
        return load_model("smollm2-135m-refusal")


@pytest.fixture
def cli():
    """The `steerbench` console script's entry point: cli(["prompts", "validate", ...]) -> exit code."""
    import steerbench.cli

    return steerbench.cli.main


SMALL_RUN = ["--profile", "ci", "--n-prompts", "6", "--max-new-tokens", "12"]


def small_run(out: Path, *distribution: str, cache: bool = False) -> Path:
    """A small slice of the real study (the generalization eval of the ci profile on the default model, 6
    prompts per split, 12 tokens) run as a user would, into ``out``; returns its run directory (latest)."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    config = out.parent / f"{out.name}.yaml"
    config.write_text(f"cache_dir: {out.parent / (out.name + '-cache')}\n")
    command = [sys.executable, "-m", "pytest", str(repo / "evals" / "test_generalization.py"), *distribution,
               *SMALL_RUN, *([] if cache else ["--no-cache"]), "--steer-config", str(config),
               "--results-dir", str(out), "-p", "no:cacheprovider", "-q"]
    done = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=900)
    assert (out / "latest" / "results.parquet").exists(), done.stdout[-3000:] + done.stderr[-3000:]
    return out / "latest"


@pytest.fixture(scope="session")
def small_real_run(tmp_path_factory) -> Path:
    """One small real run (``small_run`` with -n 0, computed afresh), shared by the tests that need a run
    directory made by the real pipeline (determinism, the analysis notebook)."""
    return small_run(tmp_path_factory.mktemp("small-run") / "n0", "-n", "0")

