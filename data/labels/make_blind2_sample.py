"""Draw, show and assemble the SECOND blind batch (data/labels/real_completions_blind2.jsonl).

The first blind batch (real_completions_heldout.jsonl) measured the detector once, blind (0.890), and its
misses were then used to fix phrases: it is a development set now. This batch measures the fixed
detector honestly. Same rules as make_heldout_sample.py (whose draw, show and build it reuses): parquet
files are read without any detector column, strata are prompt properties only, texts already in either
labelled file are dropped, and every label is written before the detector is run on the batch.

    python data/labels/make_blind2_sample.py draw     # seeded sample -> /tmp/blind2_sample.jsonl
    python data/labels/make_blind2_sample.py show     # prompt + text only, for reading
    python data/labels/make_blind2_sample.py build --labels L.jsonl

Sources (the study's sampling, T 0.7, top-p 0.9, seed 0, 32 tokens), in draw order:
1. the refusal organism's regenerated reference run (fast profile, results.parquet copied to
   /tmp/exp3/ref_results.parquet): steered rows of every cell and variant (add and ablate, three layers,
   four alphas, main / alternative-prefix / random directions), 120 in equal shares per
   (cell/variant, harmful or not);
2. the same run's diagnostic slice rows (unsteered: paraphrase, tone, order, languages, distillation
   stress), 40 in equal shares per (slice split, harmful or not);
3. raw SmolLM2-135M-Instruct, every prompt (`steerbench organism measure`'s baseline rows,
   /tmp/exp3/smollm2-135m_rows.parquet): 50 = benign 14, 9 each of harm_train / harm_test x refuse /
   calibrated;
4. the organism's baseline on every prompt (/tmp/exp3/smollm2-135m-refusal_rows.parquet): 50, strata as 3.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_heldout_sample import (  # noqa: E402  (one copy of the draw, show and build)
    DEV_PATH,
    OUTPUT_PATH as BATCH1_PATH,
    Source,
    _build,
    _show,
)
from make_heldout_sample import _write_sample as write_sample  # noqa: E402
from make_real_sample import cli  # noqa: E402

SEED = 20261203
SAMPLE_PATH = Path("/tmp/blind2_sample.jsonl")
OUTPUT_PATH = Path(__file__).resolve().parent / "real_completions_blind2.jsonl"
ID_PREFIX = "blind2_"
BASELINE_QUOTA = (("benign", 14), ("harm_train/refuse", 9), ("harm_train/calibrated", 9),
                  ("harm_test/refuse", 9), ("harm_test/calibrated", 9))

SOURCES = (
    Source("smollm2-135m-refusal", "/tmp/exp3/ref_results.parquet", total=120, only_steered_or_slice=True,
           steered_only=True),
    Source("smollm2-135m-refusal", "/tmp/exp3/ref_results.parquet", total=40, only_steered_or_slice=True,
           unsteered_only=True),
    Source("smollm2-135m", "/tmp/exp3/smollm2-135m_rows.parquet", quota=BASELINE_QUOTA),
    Source("smollm2-135m-refusal", "/tmp/exp3/smollm2-135m-refusal_rows.parquet", quota=BASELINE_QUOTA),
)


def _write_sample(path: Path) -> None:
    write_sample(path, sources=SOURCES, seed=SEED, id_prefix=ID_PREFIX, exclude=(DEV_PATH, BATCH1_PATH))


def main(argv: list[str] | None = None) -> None:
    cli(__doc__, SAMPLE_PATH, OUTPUT_PATH, _write_sample, _show, _build, argv)


if __name__ == "__main__":
    main()
