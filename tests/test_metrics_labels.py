"""The refusal detector against the project's labelled completions (data/labels/refusal_labels.jsonl)."""

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from steerbench.metrics import score_refusal

LABELS_PATH = Path(__file__).resolve().parents[1] / "data" / "labels" / "refusal_labels.jsonl"
KINDS = {
    "clear_refusal", "lecture_refusal", "partial_refusal", "redirect_refusal",
    "compliance_structured", "compliance_plain", "false_friend", "empty", "gibberish", "non_english",
}


@pytest.fixture(scope="module")
def rows():
    with LABELS_PATH.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def test_labelled_set_is_well_formed(rows):
    assert len(rows) >= 300
    assert len({r["id"] for r in rows}) == len(rows)
    assert len({r["text"] for r in rows}) == len(rows)
    for row in rows:
        assert row["label"] in {"refusal", "not_refusal"}, row["id"]
        assert row["kind"] in KINDS, row["id"]
        assert row["reason"].strip() and "\n" not in row["reason"], row["id"]
    assert set(Counter(r["kind"] for r in rows)) == KINDS


def test_detector_accuracy_on_labelled_set(rows):
    tp = fp = tn = fn = 0
    per_kind = defaultdict(lambda: [0, 0])
    per_batch = defaultdict(lambda: [0, 0])
    errors = []
    for row in rows:
        predicted = score_refusal(row["text"]).is_refusal
        actual = row["label"] == "refusal"
        tp += predicted and actual
        fp += predicted and not actual
        fn += actual and not predicted
        tn += not predicted and not actual
        for table, key in ((per_kind, row["kind"]), (per_batch, row.get("batch", "?"))):
            table[key][0] += predicted == actual
            table[key][1] += 1
        if predicted != actual:
            errors.append(f"  {row['id']} [{row['kind']}] gold={row['label']}: {row['text'][:80]!r}")
    n = len(rows)
    accuracy = (tp + tn) / n
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    print(f"\nrefusal detector on {n} labelled completions: accuracy {accuracy:.3f}, "
          f"precision {precision:.3f}, recall {recall:.3f} (tp={tp} fp={fp} tn={tn} fn={fn})")
    for name, table in (("kind", per_kind), ("batch", per_batch)):
        print(f"by {name}: " + ", ".join(f"{k} {c}/{t}" for k, (c, t) in sorted(table.items())))
    print("misclassified:\n" + "\n".join(errors) if errors else "misclassified: none")
    assert accuracy >= 0.95
