"""Draw, show and assemble the BLIND held-out batch (data/labels/real_completions_heldout.jsonl).

The development set real_completions.jsonl was used to tune the phrase detector; this batch measures
it honestly. It is labelled by a person before the detector is ever run on it, and never used for tuning:

    python data/labels/make_heldout_sample.py draw                      # seeded sample -> /tmp/heldout_sample.jsonl
    python data/labels/make_heldout_sample.py show [--ids heldout_0001,..]  # prompt + text for reading
    python data/labels/make_heldout_sample.py build --labels L.jsonl    # merge labels, apply the cut rule

Blindness: the parquet files are read with an explicit column list (READ_COLUMNS) that leaves out every
detector or refusal-measure column (DETECTOR_COLUMNS), so neither the draw nor the texts shown for
reading can depend on what the detector says. Unlike make_real_sample.py, the draw is NOT stratified by
the detector's outcome: strata are prompt properties only (split x expected behaviour; for steered and
slice rows also the cell/variant or slice split).

Sampling (seed SEED): texts already in real_completions.jsonl (by SHA-256 of the full completion, which
also covers its cut rows) are dropped, and so are texts an earlier source already holds; within each
stratum rows are drawn uniformly at random (pandas `sample`, seeded per source). The sources are drawn
in order and each independently of the later ones, so the first two sources' rows and ids do not change
when the third appears. Reading order (ids) is a seeded shuffle within each block: block 1 = sources 1-2
(heldout_0001...), block 2 = source 3 (numbered after block 1).
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_real_sample import _read_jsonl, cli, cut_text, labelled_rows  # noqa: E402  (one copy of the shared helpers)

SEED = 20261202
SAMPLE_PATH = Path("/tmp/heldout_sample.jsonl")
HERE = Path(__file__).resolve().parent
OUTPUT_PATH = HERE / "real_completions_heldout.jsonl"
DEV_PATH = HERE / "real_completions.jsonl"
LABELS = ("refusal", "compliance", "partial", "degenerate")
HARMFUL_SPLITS = ("harm_train", "harm_test")
HARMFUL_BEHAVIOURS = ("refuse", "calibrated")
CUT_WORDS = 10  # a harmful completion that attempts the request keeps only this many opening words
# Never read: the detector's columns, and the refusal measures that would hint at its answer.
DETECTOR_COLUMNS = ("refusal_score", "is_refusal", "matched", "helpfulness_score", "is_helpful", "outcome", "refused",
                    "refusal_logodds", "prefix_logodds")
READ_COLUMNS = ("prompt_id", "split", "slice", "expected_behavior", "prompt", "cell", "variant", "alpha",
                "sample_index", "completion", "n_tokens", "fluency_logprob")
assert not set(READ_COLUMNS) & set(DETECTOR_COLUMNS)


@dataclass(frozen=True)
class Source:
    """One parquet of study rows.

    Attributes:
        model: the model alias (run.json config.model / the adapter's alias).
        path: a results parquet, or a results directory whose last runs/*/results.parquet is read.
        quota: {stratum: rows to draw}; a stratum not named gets `default_quota`.
        default_quota: rows per stratum not in `quota`.
        total: cap on the source's rows (strata filled round-robin, equal shares) or None.
        only_steered_or_slice: keep only rows with alpha != 0 or a diagnostic slice split (and stratify
            them by cell/variant or slice split).
        steered_only, unsteered_only: further keep only alpha != 0 / alpha == 0 rows.
        optional: skip the source (with a message) when its file is not there yet.
    """

    model: str
    path: str
    quota: tuple[tuple[str, int], ...] = ()
    default_quota: int = 0
    total: int | None = None
    only_steered_or_slice: bool = False
    optional: bool = False
    block: int = 1
    steered_only: bool = False  # with only_steered_or_slice: alpha != 0 rows only
    unsteered_only: bool = False  # with only_steered_or_slice: alpha == 0 rows only (baseline, slices)


SOURCES = (
    # raw SmolLM2-135M-Instruct baseline (steerbench.organism.measure.baseline_rows, every prompt): 70, ten
    # more than the planned 60 because the organism file below is small (pandas' seeded `sample` draws a
    # prefix-stable permutation, so the first 60 drawn are the same as with quotas 20/10/10/10/10)
    Source("smollm2-135m", "/tmp/exp2/raw_rows.parquet",
           quota=(("benign", 22), ("harm_train/refuse", 12), ("harm_train/calibrated", 12),
                  ("harm_test/refuse", 12), ("harm_test/calibrated", 12))),
    # the refusal organism (new adapter) baseline. The file holds 84 rows (60 benign, 12 per harm split),
    # not every prompt, so all its distinct new texts are kept (about 70 instead of the planned 110)
    Source("smollm2-135m-refusal", "/tmp/exp2/org_rows.parquet", default_quota=10**6),
    # the organism under the ci profile: steered cells and diagnostic slices only, up to 60
    Source("smollm2-135m-refusal", "/tmp/exp2/ci_org", total=60, only_steered_or_slice=True, optional=True, block=2),
)


def is_harmful(split: str, expected_behavior: str | None) -> bool:
    """The safety rule's notion of a harmful request (README, "Safety rule")."""
    return split in HARMFUL_SPLITS or expected_behavior in HARMFUL_BEHAVIOURS


def _resolve(path: str) -> tuple[Path, str] | None:
    """(parquet file, source name) or None when it is not there yet."""
    p = Path(path)
    if p.suffix == ".parquet":
        return (p, str(p)) if p.exists() else None
    runs = sorted(r for r in (p / "runs").glob("*") if (r / "results.parquet").exists()) if (p / "runs").is_dir() else []
    return (runs[-1] / "results.parquet", runs[-1].name) if runs else None


def _stratum(row, steered_or_slice: bool) -> str:
    harm = "harmful" if is_harmful(row["split"], row["expected_behavior"]) else "benign"
    if steered_or_slice:
        group = row["split"] if row["alpha"] == 0 else f"{row['cell']}/{row['variant']}"
        return f"{group}/{harm}"
    return "benign" if row["split"] == "benign" else f"{row['split']}/{row['expected_behavior']}"


def _equal_shares(sizes: dict[str, int], total: int) -> dict[str, int]:
    """Round-robin: one more row to each stratum in sorted order until `total` or all are used."""
    shares = dict.fromkeys(sizes, 0)
    while sum(shares.values()) < total and any(shares[k] < sizes[k] for k in sizes):
        for key in sorted(sizes):
            if shares[key] < sizes[key] and sum(shares.values()) < total:
                shares[key] += 1
    return shares


def _dev_hashes(paths=(DEV_PATH,)) -> set[str]:
    """SHA-256 of every text already in a labelled file (a new batch never repeats one)."""
    hashes: set[str] = set()
    for path in paths:
        with path.open(encoding="utf-8") as fh:
            hashes |= {json.loads(line)["text_sha256"] for line in fh if line.strip()}
    return hashes


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def draw(sources=SOURCES, seed: int = SEED, id_prefix: str = "heldout_", exclude=(DEV_PATH,)):
    """The sample as a DataFrame (READ_COLUMNS + id, model, source, sample_weight); no detector column.

    ``exclude``: labelled files whose texts are left out; ``id_prefix``: the batch's id prefix."""
    import pandas as pd

    seen = _dev_hashes(exclude)
    blocks: dict[int, list] = {}
    for index, source in enumerate(sources):
        resolved = _resolve(source.path)
        if resolved is None:
            if source.optional:
                print(f"skipped (not there yet): {source.path}", file=sys.stderr)
                continue
            raise FileNotFoundError(source.path)
        file, name = resolved
        frame = pd.read_parquet(file, columns=list(READ_COLUMNS))
        frame = frame.sort_values(["split", "prompt_id", "cell", "variant", "alpha", "sample_index"], kind="stable")
        if source.only_steered_or_slice:
            frame = frame[(frame["alpha"] != 0) | ~frame["split"].isin([*HARMFUL_SPLITS, "benign"])]
        if source.steered_only:
            frame = frame[frame["alpha"] != 0]
        if source.unsteered_only:
            frame = frame[frame["alpha"] == 0]
        frame = frame.assign(text_sha256=frame["completion"].map(sha))
        frame = frame[~frame["text_sha256"].isin(seen)].drop_duplicates("text_sha256")
        frame = frame.assign(stratum=[_stratum(r, source.only_steered_or_slice) for r in frame.to_dict("records")])
        sizes = frame.groupby("stratum").size().to_dict()
        if source.total is not None:
            shares = _equal_shares(sizes, source.total)
        else:
            quota = dict(source.quota)
            shares = {k: min(quota.get(k, source.default_quota), n) for k, n in sizes.items()}
        parts = [group.sample(n=shares[key], random_state=seed + index)
                 for key, group in frame.groupby("stratum", sort=True) if shares[key]]
        chosen = pd.concat(parts).assign(model=source.model, source=name, sample_weight=1.0)
        print(f"{source.model} {name}: " + ", ".join(f"{k} {shares[k]}/{sizes[k]}" for k in sorted(sizes)),
              file=sys.stderr)
        seen.update(chosen["text_sha256"])
        blocks.setdefault(source.block, []).append(chosen)
    out, next_id = [], 1
    for block in sorted(blocks):
        part = pd.concat(blocks[block]).sample(frac=1.0, random_state=seed + 100 * block).reset_index(drop=True)
        part.insert(0, "id", [f"{id_prefix}{i:04d}" for i in range(next_id, next_id + len(part))])
        next_id += len(part)
        out.append(part)
    return pd.concat(out).reset_index(drop=True).drop(columns=["stratum"])



def _write_sample(path: Path, **draw_args) -> None:
    """Draw (``draw_args`` go to ``draw``: another batch's sources, seed, id prefix, exclusions) and write."""
    sample = draw(**draw_args)
    with path.open("w", encoding="utf-8") as fh:
        for record in sample.to_dict(orient="records"):
            assert not set(record) & set(DETECTOR_COLUMNS)
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"wrote {len(sample)} completions to {path}")
    print(sample.groupby(["model", "source", "split"]).size().to_string())


def _show(path: Path, ids: set[str] | None) -> None:
    for row in _read_jsonl(path):
        if ids and row["id"] not in ids:
            continue
        print(f"### {row['id']} | {row['model']} | {row['split']}/{row['expected_behavior']} | "
              f"{row['cell']}/{row['variant']}")
        print(f"PROMPT: {row['prompt']!r}")
        print(f"TEXT:   {row['completion']!r}\n")



def _build(sample_path: Path, labels_path: Path, output_path: Path) -> None:
    rows = list(labelled_rows(sample_path, labels_path))
    with output_path.open("w", encoding="utf-8") as fh:
        for row, label, reason in rows:
            full = row["completion"]
            cut = is_harmful(row["split"], row["expected_behavior"]) and label in ("compliance", "partial")
            record = {
                "id": row["id"], "model": row["model"], "source": row["source"], "split": row["split"],
                "cell": row["cell"], "variant": row["variant"], "alpha": float(row["alpha"]),
                "prompt_id": row["prompt_id"], "sample_index": int(row["sample_index"]), "prompt": row["prompt"],
                "text": cut_text(full) if cut else full,
                "text_sha256": sha(full), "text_cut": cut,
                "n_tokens": int(row["n_tokens"]), "fluency_logprob": float(row["fluency_logprob"]),
                "sample_weight": 1.0,
                "label": label, "reason": reason,
            }
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} labelled completions to {output_path}")


def main(argv: list[str] | None = None) -> None:
    cli(__doc__, SAMPLE_PATH, OUTPUT_PATH, _write_sample, _show, _build, argv)


if __name__ == "__main__":
    main()
