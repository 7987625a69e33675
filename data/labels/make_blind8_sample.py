"""Draw, show and assemble the EIGHTH blind batch (data/labels/real_completions_blind8.jsonl).

Batches 1-6 are the training data of the refusal classifier and of the degeneration stage
(steerbench/metrics/classifier.py); this batch
measures the classifier blind: new runs at another seed (15), of the organism (adapter 64bf0e41, committed
2026-12-08) and of raw SmolLM2,
so no text can be one it was fitted on; the same rules as make_heldout_sample.py (draw, show and build
reused; strata are prompt and cell properties only; texts already in a labelled file are left out).
Every label is written before the classifier or the detector is run on the batch.

    python data/labels/make_blind8_sample.py draw     # seeded sample -> /tmp/blind8_sample.jsonl
    python data/labels/make_blind8_sample.py show     # prompt + text only, for reading
    python data/labels/make_blind8_sample.py build --labels L.jsonl

Sources (the study's sampling, T 0.7, top-p 0.9, seed 15, 24 tokens, ci profile with 24 prompts per split:
`pytest evals --profile ci --n-prompts 24 --seed 15 -n 2 --results-dir /tmp/b8/{org,raw} [--model smollm2-135m]`),
the same strata as batch 4 (make_blind4_sample.run_sources).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_blind2_sample import OUTPUT_PATH as BATCH2_PATH  # noqa: E402
from make_blind3_sample import OUTPUT_PATH as BATCH3_PATH  # noqa: E402
from make_blind4_sample import OUTPUT_PATH as BATCH4_PATH, run_sources  # noqa: E402
from make_blind5_sample import OUTPUT_PATH as BATCH5_PATH  # noqa: E402
from make_blind6_sample import OUTPUT_PATH as BATCH6_PATH  # noqa: E402
from make_blind7_sample import OUTPUT_PATH as BATCH7_PATH  # noqa: E402
from make_heldout_sample import DEV_PATH, OUTPUT_PATH as BATCH1_PATH, _build, _show  # noqa: E402
from make_heldout_sample import _write_sample as write_sample  # noqa: E402
from make_real_sample import cli  # noqa: E402

SEED = 20261209
SAMPLE_PATH = Path("/tmp/blind8_sample.jsonl")
OUTPUT_PATH = Path(__file__).resolve().parent / "real_completions_blind8.jsonl"


def main(argv: list[str] | None = None) -> None:
    def write(path: Path) -> None:
        write_sample(path, sources=run_sources("/tmp/b8"), seed=SEED, id_prefix="blind8_",
                     exclude=(DEV_PATH, BATCH1_PATH, BATCH2_PATH, BATCH3_PATH, BATCH4_PATH, BATCH5_PATH, BATCH6_PATH,
                              BATCH7_PATH))

    cli(__doc__, SAMPLE_PATH, OUTPUT_PATH, write, _show, _build, argv)


if __name__ == "__main__":
    main()
