"""`steerbench detector fit` fits the refusal classifier on the labelled completions; `steerbench
detector evaluate` measures the study's refusal outcome (phrase detector alone, and with the
classifier) on label files."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("detector", help="fit or evaluate the refusal classifier on labelled completions")
    commands = parser.add_subparsers(dest="detector_command", required=True)
    fit = commands.add_parser("fit", help="fit the classifier on the training label files and write its weights")
    fit.add_argument("--labels", type=Path, default=None, help="directory of the label files (default: the package's data/labels)")
    fit.add_argument("--out", type=Path, default=None, help="where to write the weights (default: the committed file)")
    fit.set_defaults(func=_fit)
    evaluate = commands.add_parser("evaluate", help="accuracy, precision, recall of the refusal outcome on label files")
    evaluate.add_argument("files", type=Path, nargs="*", help="label files (default: every real-completion file)")
    evaluate.add_argument("--json", action="store_true", help="print the table as JSON")
    evaluate.set_defaults(func=_evaluate)


def _labels_dir(given: Path | None) -> Path:
    from steerbench.data_files import packaged_data_dir

    return given if given is not None else packaged_data_dir() / "labels"


def _fit(args: argparse.Namespace) -> int:
    from steerbench.cache import atomic_write
    from steerbench.errors import ConfigError
    from steerbench.metrics.classifier import TRAINING_FILES, classifier_path, fit

    directory = _labels_dir(args.labels)
    paths = [directory / name for name in TRAINING_FILES]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ConfigError(f"--labels {directory}: missing label file(s) {', '.join(missing)}")
    record = fit(paths)
    out = args.out if args.out is not None else classifier_path()
    atomic_write(out, lambda tmp: tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8"))
    folds = ", ".join(f"{name} {v['accuracy']:.3f}" for name, v in record["leave_one_file_out"].items())
    print(f"refusal classifier fitted on {sum(record['n'].values())} texts ({record['n']['refusal']} refusals): "
          f"training accuracy {record['training_accuracy']:.3f}; leaving one file out: {folds}")
    print(f"written to {out} (fingerprint {record['fingerprint']})")
    return 0


def evaluate_file(path: Path) -> dict:
    """The study's outcome on one label file: confusion of refusal vs compliance rows, phrase detector
    alone and with the classifier, and what the outcome says on partial / degenerate rows."""
    from steerbench.metrics import classify_outcome, score_refusal
    from steerbench.metrics.classifier import load_classifier

    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
    texts = [r["text"].removesuffix(" [cut]") if r.get("text_cut") else r["text"] for r in rows]
    scores = [score_refusal(t) for t in texts]
    refused = load_classifier().refused(texts, scores)
    result = {"file": path.name, "n_rows": len(rows)}
    for name, verdicts in (("phrases", [None] * len(rows)), ("classifier", refused)):
        counts = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
        other: dict[str, dict[str, int]] = {}
        for row, text, score, verdict in zip(rows, texts, scores, verdicts):
            fluency = row.get("fluency_logprob")
            fluency = None if fluency is None or math.isnan(fluency) else float(fluency)
            outcome = classify_outcome(text, score, fluency, refused=verdict)
            label = "compliance" if row["label"] == "not_refusal" else row["label"]
            if label not in ("refusal", "compliance"):
                other.setdefault(label, {}).setdefault(outcome, 0)
                other[label][outcome] += 1
                continue
            predicted, actual = outcome == "refusal", label == "refusal"
            counts["tp" if predicted and actual else "fp" if predicted else "fn" if actual else "tn"] += 1
        n = sum(counts.values())
        result[name] = {
            **counts, "n": n,
            "accuracy": (counts["tp"] + counts["tn"]) / n if n else math.nan,
            "precision": counts["tp"] / (counts["tp"] + counts["fp"]) if counts["tp"] + counts["fp"] else math.nan,
            "recall": counts["tp"] / (counts["tp"] + counts["fn"]) if counts["tp"] + counts["fn"] else math.nan,
            "other_labels": other,
        }
    return result


def _evaluate(args: argparse.Namespace) -> int:
    from steerbench.errors import ConfigError

    files = args.files or sorted(_labels_dir(None).glob("real_completions*.jsonl"))
    for path in files:
        if not path.is_file():
            raise ConfigError(f"{path}: no such label file")
    results = [evaluate_file(path) for path in files]
    if args.json:
        json.dump(results, sys.stdout, indent=1)
        print()
        return 0
    print(f"{'file':38} {'n':>4}  {'phrases':>8}  {'classifier':>10}  {'precision':>9}  {'recall':>6}")
    for r in results:
        c = r["classifier"]
        print(f"{r['file']:38} {c['n']:4d}  {r['phrases']['accuracy']:8.3f}  {c['accuracy']:10.3f}  "
              f"{c['precision']:9.3f}  {c['recall']:6.3f}")
    return 0
