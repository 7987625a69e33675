"""All text metrics are fast enough to run over every completion of a study."""

import json
import random
import time
from pathlib import Path

from steerbench.metrics import classify_outcome, confound_stats, score_helpfulness, score_refusal

LABELS_PATH = Path(__file__).resolve().parents[1] / "data" / "labels" / "refusal_labels.jsonl"
N_COMPLETIONS = 10_000
BUDGET_S = 8.0  # "under a few seconds" with headroom for a shared 2-core machine


def test_scoring_10k_completions_is_fast():
    with LABELS_PATH.open(encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for line in fh]
    completions = [texts[i % len(texts)] for i in range(N_COMPLETIONS)]
    rng = random.Random(0)
    token_ids = [[rng.randrange(100) for _ in range(48)] for _ in range(N_COMPLETIONS)]
    logprobs, entropies = [-1.0] * 48, [2.0] * 48

    start = time.perf_counter()
    for text, ids in zip(completions, token_ids):
        refusal = score_refusal(text)
        score_helpfulness(text, len(ids), refusal=refusal)
        classify_outcome(text, refusal, -2.0)
        confound_stats(ids, logprobs, entropies, True)
    elapsed = time.perf_counter() - start
    print(f"\nscored {N_COMPLETIONS} completions (refusal, helpfulness, outcome, confounds) in {elapsed:.2f} s")
    assert elapsed < BUDGET_S
