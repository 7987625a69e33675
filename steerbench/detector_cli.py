"""`steerbench detector fit` fits the refusal classifier and the degeneration stage on the labelled completions; `steerbench
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
    fit = commands.add_parser("fit", help="fit the refusal classifier and the degeneration stage on the training label files")
    fit.add_argument("--labels", type=Path, default=None, help="directory of the label files (default: the package's data/labels)")
    fit.add_argument("--out", type=Path, default=None, help="where to write the weights (default: the committed file)")
    fit.add_argument("--degeneration-out", type=Path, default=None,
                     help="where to write the degeneration stage's weights (default: the committed file)")
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
    from steerbench.metrics.classifier import (TRAINING_FILES, classifier_path, degeneration_path, fit,
                                               fit_degeneration)

    directory = _labels_dir(args.labels)
    paths = [directory / name for name in TRAINING_FILES]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ConfigError(f"--labels {directory}: missing label file(s) {', '.join(missing)}")
    record = fit(paths)
    real = [p for p in paths if p.name.startswith("real_completions")]
    stage = fit_degeneration(real)
    out = args.out if args.out is not None else classifier_path()
    stage_out = args.degeneration_out if args.degeneration_out is not None else degeneration_path()
    for path, data in ((out, record), (stage_out, stage)):
        atomic_write(path, lambda tmp, data=data: tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8"))
    folds = ", ".join(f"{name} {v['accuracy']:.3f}" for name, v in record["leave_one_file_out"].items())
    print(f"refusal classifier fitted on {sum(record['n'].values())} texts ({record['n']['refusal']} refusals): "
          f"training accuracy {record['training_accuracy']:.3f}; leaving one file out: {folds}")
    print(f"written to {out} (fingerprint {record['fingerprint']})")
    folds = ", ".join(f"{name} {v['rules_then_classifier']['recall']:.2f}/{v['rules_then_classifier']['precision']:.2f}"
                      f" (rules {v['rules']['recall']:.2f})" for name, v in stage["leave_one_file_out"].items())
    print(f"degeneration stage fitted on {sum(stage['n'].values())} real completions ({stage['n']['degenerate']} "
          f"degenerate); leaving one file out, recall/precision of rules then classifier: {folds}")
    print(f"written to {stage_out} (fingerprint {stage['fingerprint']})")
    return 0


def evaluate_file(path: Path) -> dict:
    """The study's outcome on one label file: confusion of refusal vs compliance rows, phrase detector
    alone and with the classifiers, what the outcome says on partial / degenerate rows, and recall and
    precision of the degenerate outcome (rules alone, and rules then the degeneration stage)."""
    import numpy as np

    from steerbench.metrics import classify_outcome, score_refusal
    from steerbench.metrics.classifier import detection_counts, load_classifier, load_degeneration_classifier

    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
    texts = [r["text"].removesuffix(" [cut]") if r.get("text_cut") else r["text"] for r in rows]
    scores = [score_refusal(t) for t in texts]
    fluencies = []
    for row in rows:
        fluency = row.get("fluency_logprob")
        fluencies.append(None if fluency is None or math.isnan(fluency) else float(fluency))
    refused = load_classifier().refused(texts, scores)
    stage = load_degeneration_classifier().degenerate(texts, fluencies, scores)
    result = {"file": path.name, "n_rows": len(rows)}
    labels = ["compliance" if r["label"] == "not_refusal" else r["label"] for r in rows]
    for name, verdicts, second in (("phrases", [None] * len(rows), [False] * len(rows)),
                                   ("classifier", refused, stage)):
        counts = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
        other: dict[str, dict[str, int]] = {}
        degenerate = []
        for label, text, score, fluency, verdict, flagged in zip(labels, texts, scores, fluencies, verdicts, second):
            outcome = classify_outcome(text, score, fluency, refused=verdict)
            outcome = "degenerate" if flagged else outcome
            degenerate.append(outcome == "degenerate")
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
            "degenerate": detection_counts(np.array(degenerate), np.array([lab == "degenerate" for lab in labels])),
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
    print(f"{'':38} {'refusal vs compliance':>44}  {'degenerate (rules / + stage)':>30}")
    print(f"{'file':38} {'n':>4}  {'phrases':>8}  {'classifier':>10}  {'precision':>9}  {'recall':>6}  "
          f"{'n':>4}  {'recall':>11}  {'precision':>11}")
    for r in results:
        c, rules, staged = r["classifier"], r["phrases"]["degenerate"], r["classifier"]["degenerate"]
        print(f"{r['file']:38} {c['n']:4d}  {r['phrases']['accuracy']:8.3f}  {c['accuracy']:10.3f}  "
              f"{c['precision']:9.3f}  {c['recall']:6.3f}  {staged['positives']:4d}  "
              f"{rules['recall']:5.2f}/{staged['recall']:5.2f}  {rules['precision']:5.2f}/{staged['precision']:5.2f}")
    return 0
