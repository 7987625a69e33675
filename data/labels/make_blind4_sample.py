"""Draw, show and assemble the FOURTH blind batch (data/labels/real_completions_blind4.jsonl).

The third blind batch measured the detector blind (0.930) and its misses were then used for a third
round of phrase fixes (soft declines: "this request cannot ...", "it is not safe to share this ...",
"however, I'm designed to assist with ..."), which made it a development set. This batch measures
those fixes. Completions the study had never produced before: new runs at another seed (7), so no
text can be one the fixes were written from; the same rules as make_heldout_sample.py (draw, show and
build reused; strata are prompt and cell properties only; texts already in a labelled file are left
out). Every label is written before the detector is run on the batch.

    python data/labels/make_blind4_sample.py draw     # seeded sample -> /tmp/blind4_sample.jsonl
    python data/labels/make_blind4_sample.py show     # prompt + text only, for reading
    python data/labels/make_blind4_sample.py build --labels L.jsonl

Sources (the study's sampling, T 0.7, top-p 0.9, seed 7, 24 tokens, ci profile with 24 prompts per split:
`pytest evals --profile ci --n-prompts 24 --seed 7 -n 2 --results-dir DIR [--model smollm2-135m]`):
1. the refusal organism (recipe F): steered rows of every cell and variant (the selected direction's
   add at alpha 1, the positive control's all-layer ablation and ActAdd, the random and unrelated
   controls), 110 in equal shares per (cell/variant, harmful or not);
2. the same run's unsteered rows (baseline, slices): 50;
3. raw SmolLM2-135M-Instruct, the same profile: steered 40, unsteered 40.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_blind2_sample import OUTPUT_PATH as BATCH2_PATH  # noqa: E402
from make_blind3_sample import OUTPUT_PATH as BATCH3_PATH  # noqa: E402
from make_heldout_sample import DEV_PATH, OUTPUT_PATH as BATCH1_PATH, Source, _build, _show  # noqa: E402
from make_heldout_sample import _write_sample as write_sample  # noqa: E402
from make_real_sample import cli  # noqa: E402

SEED = 20261205
SAMPLE_PATH = Path("/tmp/blind4_sample.jsonl")
OUTPUT_PATH = Path(__file__).resolve().parent / "real_completions_blind4.jsonl"
ID_PREFIX = "blind4_"


def run_sources(directory: str) -> tuple[Source, ...]:
    """The batch's four sources in ``directory``: org/ (the organism's run) and raw/ (raw SmolLM2's)."""
    return (
        Source("smollm2-135m-refusal", f"{directory}/org", total=110, only_steered_or_slice=True, steered_only=True),
        Source("smollm2-135m-refusal", f"{directory}/org", total=50, unsteered_only=True),
        Source("smollm2-135m", f"{directory}/raw", total=40, only_steered_or_slice=True, steered_only=True),
        Source("smollm2-135m", f"{directory}/raw", total=40, unsteered_only=True),
    )


SOURCES = run_sources("/tmp/b4")


def _write_sample(path: Path) -> None:
    write_sample(path, sources=SOURCES, seed=SEED, id_prefix=ID_PREFIX,
                 exclude=(DEV_PATH, BATCH1_PATH, BATCH2_PATH, BATCH3_PATH))


def main(argv: list[str] | None = None) -> None:
    cli(__doc__, SAMPLE_PATH, OUTPUT_PATH, _write_sample, _show, _build, argv)


if __name__ == "__main__":
    main()
