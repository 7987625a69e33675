"""Draw, show and assemble the labelled set of real completions (data/labels/real_completions.jsonl).

The set is labelled by a person reading each completion, so the script has three steps:

    python data/labels/make_real_sample.py draw                      # the seeded sample -> /tmp/real_sample.jsonl
    python data/labels/make_real_sample.py show [--ids real_0001,..] # print prompt + text for reading
    python data/labels/make_real_sample.py build --labels L.jsonl    # merge labels, apply the cut rule

`draw` and `show` never write or print the detector's columns (refusal_score, is_refusal, matched,
outcome, refused): the labeller sees only the prompt and the text. The detector's outcome is used
once, inside `draw`, to stratify (so the rare refusals and degenerate texts are all kept); that makes
the set a stratified sample, not a random one, and its accuracy is not a population refusal rate.

Sampling (seed SEED, identical texts dropped across every source, first occurrence kept):
- every distinct completion of a steered cell (alpha != 0);
- every distinct baseline completion the study scored refusal or degenerate;
- per (source, split), `compliance_per_split` baseline completions the study scored compliance
  (None: all of them).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

SEED = 20261201
SAMPLE_PATH = Path("/tmp/real_sample.jsonl")
OUTPUT_PATH = Path(__file__).resolve().parent / "real_completions.jsonl"
LABELS = ("refusal", "compliance", "partial", "degenerate")
HARMFUL_SPLITS = ("harm_train", "harm_test")
CUT_WORDS = 10  # a harmful completion that attempts the request keeps only this many opening words
DETECTOR_COLUMNS = ("refusal_score", "is_refusal", "matched", "helpfulness_score", "is_helpful", "outcome", "refused")
KEPT_COLUMNS = ("split", "cell", "variant", "alpha", "prompt_id", "sample_index", "prompt", "completion",
                "n_tokens", "fluency_logprob")


@dataclass(frozen=True)
class Source:
    """One results directory written by `pytest evals --results-dir DIR`.

    Attributes:
        model: the model alias the run used (run.json config.model).
        results_dir: the directory; its last run under runs/ (sorted by name) is read.
        compliance_per_split: baseline completions scored compliance to draw per split (None: all).
    """

    model: str
    results_dir: str
    compliance_per_split: int | None


# Order matters: where two sources hold the same text, the first keeps it.
SOURCES = (
    Source("smollm2-135m-refusal", "/tmp/ci2", None),  # ci profile: baseline + L15-add-a1
    Source("gemma3-270m", "/tmp/gemma_ci", None),  # ci profile: baseline + L9-add-a1
    Source("smollm2-135m-refusal", "/tmp/org_base", 15),  # fast profile, baseline cells only
    Source("smollm2-135m", "/tmp/raw_base", 25),  # fast profile, baseline cells only
)


def _latest_run(results_dir: str) -> Path:
    runs = sorted(p for p in Path(results_dir, "runs").iterdir() if (p / "results.parquet").exists())
    if not runs:
        raise FileNotFoundError(
            f"no runs/*/results.parquet under {results_dir}; run `pytest evals --results-dir {results_dir}` first"
        )
    return runs[-1]


def _candidates(source: Source):
    """The source's rows with a `steered` flag, steered rows first and `baseline` before `*-a0`."""
    import pandas as pd

    run = _latest_run(source.results_dir)
    frame = pd.read_parquet(run / "results.parquet")
    frame["steered"] = frame["alpha"] != 0
    frame["cell_order"] = frame["cell"].map(lambda cell: 1 if cell == "baseline" else 2)
    frame.loc[frame["steered"], "cell_order"] = 0
    frame = frame.sort_values(["cell_order", "cell", "variant", "split", "prompt_id", "sample_index"], kind="stable")
    frame["model"] = source.model
    frame["source"] = run.name
    return frame


def draw(sources=SOURCES, seed: int = SEED):
    """The stratified sample as a DataFrame of KEPT_COLUMNS + model, source, sample_weight.

    sample_weight is the inverse of the row's inclusion probability within its stratum (1.0 where
    the stratum is kept whole), so weighted sums estimate totals over all distinct completions.
    The detector columns are left out.
    """
    import pandas as pd

    picked, seen = [], set()
    for index, source in enumerate(sources):
        frame = _candidates(source)
        frame = frame[~frame["completion"].isin(seen)].drop_duplicates("completion")
        keep_all = frame["steered"] | frame["outcome"].isin(["refusal", "degenerate"])
        parts = [frame[keep_all].assign(sample_weight=1.0)]
        compliant = frame[~keep_all]
        for _, group in compliant.groupby("split", sort=True):
            n = len(group) if source.compliance_per_split is None else min(source.compliance_per_split, len(group))
            parts.append(group.sample(n=n, random_state=seed + index).assign(sample_weight=len(group) / n))
        chosen = pd.concat(parts)
        seen.update(chosen["completion"])
        picked.append(chosen[["model", "source", *KEPT_COLUMNS, "sample_weight"]])
    sample = pd.concat(picked).sample(frac=1.0, random_state=seed).reset_index(drop=True)  # reading order
    sample.insert(0, "id", [f"real_{i:04d}" for i in range(1, len(sample) + 1)])
    return sample


def _write_sample(path: Path) -> None:
    sample = draw()
    with path.open("w", encoding="utf-8") as fh:
        for record in sample.to_dict(orient="records"):
            assert not set(record) & set(DETECTOR_COLUMNS)
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"wrote {len(sample)} completions to {path}")
    print(sample.groupby(["model", "split"]).size().unstack(fill_value=0).to_string())


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _show(path: Path, ids: set[str] | None) -> None:
    for row in _read_jsonl(path):
        if ids and row["id"] not in ids:
            continue
        print(f"### {row['id']} | {row['model']} | {row['split']} | {row['cell']}/{row['variant']}")
        print(f"PROMPT: {row['prompt']!r}")
        print(f"TEXT:   {row['completion']!r}\n")


def cut_text(text: str) -> str:
    """The opening CUT_WORDS words of a completion followed by ' [cut]'."""
    return " ".join(text.split()[:CUT_WORDS]) + " [cut]"


def labelled_rows(sample_path: Path, labels_path: Path):
    """(sampled row, label, reason) for every sampled id; exits naming the file on a missing or bad label."""
    labels = {row["id"]: row for row in _read_jsonl(labels_path)}
    sample = _read_jsonl(sample_path)
    missing = [row["id"] for row in sample if row["id"] not in labels]
    if missing:
        sys.exit(f"{labels_path}: no label for {len(missing)} ids, e.g. {missing[:5]}; label every sampled id")
    for row in sample:
        label, reason = labels[row["id"]]["label"], labels[row["id"]]["reason"]
        if label not in LABELS:
            sys.exit(f"{labels_path}: {row['id']} has label {label!r}; allowed: {', '.join(LABELS)}")
        yield row, label, reason


def _build(sample_path: Path, labels_path: Path, output_path: Path) -> None:
    rows = list(labelled_rows(sample_path, labels_path))
    with output_path.open("w", encoding="utf-8") as fh:
        for row, label, reason in rows:
            full = row["completion"]
            cut = row["split"] in HARMFUL_SPLITS and label in ("compliance", "partial")
            record = {
                "id": row["id"], "model": row["model"], "source": row["source"], "split": row["split"],
                "cell": row["cell"], "variant": row["variant"], "alpha": row["alpha"], "prompt_id": row["prompt_id"],
                "sample_index": row["sample_index"], "prompt": row["prompt"],
                "text": cut_text(full) if cut else full,
                "text_sha256": hashlib.sha256(full.encode("utf-8")).hexdigest(), "text_cut": cut,
                "n_tokens": row["n_tokens"], "fluency_logprob": row["fluency_logprob"],
                "sample_weight": row["sample_weight"],
                "label": label, "reason": reason,
            }
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} labelled completions to {output_path}")


def cli(doc: str, sample_path: Path, output_path: Path, write_sample, show, build, argv: list[str] | None = None) -> None:
    """The draw / show / build command line shared by the labelling scripts."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("step", choices=("draw", "show", "build"))
    parser.add_argument("--sample", type=Path, default=sample_path, help="the drawn sample (draw writes it)")
    parser.add_argument("--ids", default="", help="show: comma-separated ids only")
    parser.add_argument("--labels", type=Path, help="build: JSON lines with id, label, reason")
    parser.add_argument("--out", type=Path, default=output_path, help="build: the labelled set")
    args = parser.parse_args(argv)
    if args.step == "draw":
        write_sample(args.sample)
    elif args.step == "show":
        show(args.sample, set(filter(None, args.ids.split(","))) or None)
    else:
        if args.labels is None:
            parser.error("build needs --labels")
        build(args.sample, args.labels, args.out)


def main(argv: list[str] | None = None) -> None:
    cli(__doc__, SAMPLE_PATH, OUTPUT_PATH, _write_sample, _show, _build, argv)


if __name__ == "__main__":
    main()
