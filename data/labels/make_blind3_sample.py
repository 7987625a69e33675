"""Draw, show and assemble the THIRD blind batch (data/labels/real_completions_blind3.jsonl).

The second blind batch measured the detector blind (0.907) and its misses were then used for three more
phrase fixes, which made it a development set. This batch measures those fixes: the same sources and
strata as make_blind2_sample.py (which documents them), another seed, and every text already in one of
the four labelled files left out. Labelled completely before the detector is run on it.

    python data/labels/make_blind3_sample.py draw     # seeded sample -> /tmp/blind3_sample.jsonl
    python data/labels/make_blind3_sample.py show     # prompt + text only, for reading
    python data/labels/make_blind3_sample.py build --labels L.jsonl
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_blind2_sample import OUTPUT_PATH as BATCH2_PATH, SOURCES  # noqa: E402
from make_heldout_sample import DEV_PATH, OUTPUT_PATH as BATCH1_PATH, _build, _show  # noqa: E402
from make_heldout_sample import _write_sample as write_sample  # noqa: E402
from make_real_sample import cli  # noqa: E402

SEED = 20261204
SAMPLE_PATH = Path("/tmp/blind3_sample.jsonl")
OUTPUT_PATH = Path(__file__).resolve().parent / "real_completions_blind3.jsonl"
ID_PREFIX = "blind3_"


def _write_sample(path: Path) -> None:
    write_sample(path, sources=SOURCES, seed=SEED, id_prefix=ID_PREFIX, exclude=(DEV_PATH, BATCH1_PATH, BATCH2_PATH))


def main(argv: list[str] | None = None) -> None:
    cli(__doc__, SAMPLE_PATH, OUTPUT_PATH, _write_sample, _show, _build, argv)


if __name__ == "__main__":
    main()
