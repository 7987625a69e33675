"""Per-completion rows: generate one (cell, split) and score every completion.

This module owns the ``results.parquet`` schema (``RESULTS_SCHEMA``; docs/CONTRACTS.md lists the same
columns and tests/test_rows.py checks that both agree and that the producer emits exactly them).
Model-based scores come from teacher-forced passes on top of prompt prefills (steerbench.forward):
the refusal propensity on held-out openers and the direction-prefix diagnostic on the sampling
prefill under the cell's steering, and fluency under the unsteered model on a prompt prefill shared
by every cell of the split.
"""

from __future__ import annotations

import json
import math

from steerbench.metrics import confound_stats, representation_distance, score_helpfulness, score_refusal
from steerbench.metrics.classifier import study_outcomes
from steerbench.metrics.logodds import fluency_logprobs, opener_prefixes, prefix_ids, propensity_from_scores

# results.parquet: column -> pandas dtype, in order. The one definition (report, docs and tests read it).
RESULTS_SCHEMA: dict[str, str] = {
    "prompt_id": "object", "split": "object", "family": "object", "style": "object", "slice": "object",
    "parent_id": "object", "expected_behavior": "object", "prompt": "object", "layer": "int64", "intervention": "object",
    "alpha": "float64", "cell": "object", "variant": "object", "seed": "int64", "sample_index": "int64",
    "direction_scale": "float64", "added_norm": "float64",
    "completion": "object", "n_tokens": "int64", "ended_eos": "bool", "mean_logprob": "float64",
    "mean_entropy": "float64", "refusal_score": "float64", "is_refusal": "bool", "matched": "object",
    "helpfulness_score": "float64", "is_helpful": "bool", "outcome": "object", "refused": "bool",
    "fluency_logprob": "float64", "distinct_1": "float64", "distinct_2": "float64", "longest_repeat": "int64",
    "refusal_logodds": "float64", "prefix_logodds": "float64", "drift": "float64",
    "attack": "object", "attack_steps": "Int64", "attack_seed": "Int64",
}  # fmt: skip
# The tampering question's labels (evals/test_tampering.py): the attack, its step and its seed on rows of an
# attacked checkpoint; "" and <NA> on every row of the steering study (whose drift is from the baseline,
# an attacked row's from the untampered model's completion of the same prompt).
ATTACK_COLUMNS = ("attack", "attack_steps", "attack_seed")
RESULT_COLUMNS = tuple(RESULTS_SCHEMA)
# Bump when completion_rows changes what it computes for the same inputs (enters the rows cache key).
ROWS_VERSION = "2"


def added_norm(cell, steer) -> float:
    """The L2 norm a cell adds to the residual stream at each steered position: |coef| for ``add``
    (the unit direction times its coefficient), 0 for the baseline, NaN for ``ablate`` and
    ``ablate_all`` (the removed component's size differs per token)."""
    if steer is None or cell.intervention == "baseline":
        return 0.0
    return abs(float(steer.coef)) if cell.intervention == "add" else math.nan


def completion_rows(model, prompt_set, split: str, cell, steer, *, seed: int, generation, refusal_prefix: str,
                    compliance_prefix: str, baseline=None, variant: str = "main", memo=None,
                    direction_scale: float = math.nan):
    """Generate and score every prompt of ``prompt_set`` under ``steer``; return a DataFrame.

    Args:
        baseline: the baseline rows of the same prompts and seed (DataFrame) for the drift column,
            or None for the baseline itself (drift is NaN there).
        memo: a steerbench.forward.PrefillMemo shared across calls (unsteered prompt prefills).
        direction_scale: the steering direction's natural scale (NaN for the baseline).
    """
    import pandas as pd

    from steerbench.generation import GenRequest, SamplingConfig, generate

    sampling = SamplingConfig(max_new_tokens=generation.max_new_tokens, temperature=generation.temperature,
                              top_p=generation.top_p, seed=seed)
    prompts = list(prompt_set)
    requests = [GenRequest(p.id, p.prompt, sample, steer) for p in prompts for sample in range(generation.samples_per_prompt)]
    openers = opener_prefixes(model)
    generations = generate(model, requests, sampling, batch_size=generation.batch_size,
                           score_prefixes=(prefix_ids(model, refusal_prefix), prefix_ids(model, compliance_prefix),
                                           *openers))
    by_id = {p.id: p for p in prompts}
    texts = [by_id[g.prompt_id].prompt for g in generations]
    completion_ids = [g.token_ids[:-1] if g.ended_eos else g.token_ids for g in generations]
    fluency = fluency_logprobs(model, texts, completion_ids, batch_size=generation.batch_size, memo=memo)
    # the propensities do not depend on the sample: every sample of a prompt carries the same value
    prefix_by_prompt = {g.prompt_id: g.prefix_logprobs[0] - g.prefix_logprobs[1] for g in generations}
    propensity_by_prompt = {g.prompt_id: propensity_from_scores(g.prefix_logprobs[2:]) for g in generations}
    norm = added_norm(cell, steer)
    records = []
    for g, fluency_lp in zip(generations, fluency):
        prompt = by_id[g.prompt_id]
        confounds = confound_stats(g.token_ids, g.token_logprobs, g.token_entropies, g.ended_eos)
        records.append({
            "prompt_id": g.prompt_id, "split": split, "family": prompt.meta.family, "style": prompt.meta.style,
            "slice": prompt.meta.slice, "parent_id": prompt.meta.parent_id or "",
            "expected_behavior": prompt.meta.expected_behavior, "prompt": prompt.prompt,
            "layer": cell.layer, "intervention": cell.intervention,
            "alpha": float(cell.alpha), "cell": cell.id, "variant": variant, "seed": seed, "sample_index": g.sample_index,
            "direction_scale": float(direction_scale), "added_norm": norm, "completion": g.text, "n_tokens": g.n_tokens, "ended_eos": g.ended_eos,
            "mean_logprob": confounds.mean_logprob, "mean_entropy": confounds.mean_entropy,
            "fluency_logprob": float(fluency_lp), "distinct_1": confounds.distinct_1, "distinct_2": confounds.distinct_2,
            "longest_repeat": confounds.longest_repeated_ngram,
            "refusal_logodds": propensity_by_prompt[g.prompt_id], "prefix_logodds": float(prefix_by_prompt[g.prompt_id]),
            "drift": math.nan,
        })
    frame = pd.DataFrame.from_records(records)
    if baseline is not None:
        frame["drift"] = _drift(frame, baseline)
    return conform(with_attack_labels(score_texts(frame)))


def with_attack_labels(frame, attack: str | None = None, steps: int | None = None, seed: int | None = None):
    """``frame`` labelled as rows of ``attack`` after ``steps`` steps under attack seed ``seed``; without an
    attack, as steering rows ("" / <NA>), where the labels are absent (generations cached before they existed)."""
    if attack is None:
        defaults = {"attack": "", "attack_steps": None, "attack_seed": None}
        return frame.assign(**{c: v for c, v in defaults.items() if c not in frame.columns})
    return frame.assign(attack=attack, attack_steps=int(steps), attack_seed=int(seed))


def conform(frame):
    """``frame`` with exactly the RESULTS_SCHEMA columns, in order and dtype.

    Raises:
        ValueError: a column is missing or unexpected (a producer out of step with the schema).
    """
    missing = [c for c in RESULTS_SCHEMA if c not in frame.columns]
    extra = [c for c in frame.columns if c not in RESULTS_SCHEMA]
    if missing or extra:
        raise ValueError(f"results rows do not match rows.RESULTS_SCHEMA: missing {missing}, unexpected {extra}")
    return frame[list(RESULTS_SCHEMA)].astype(RESULTS_SCHEMA) if len(frame) else frame[list(RESULTS_SCHEMA)]


TEXT_COLUMNS = ("refusal_score", "is_refusal", "matched", "helpfulness_score", "is_helpful", "outcome", "refused")
# A completion is identified within a (cell, split, variant, seed) by these: paired comparisons join on them.
PAIR_KEY = ("prompt_id", "sample_index")


def score_texts(frame):
    """(Re)compute the columns that depend only on the completion text and its fluency.

    Kept apart from generation so a change to the detector or the outcome thresholds re-scores
    cached completions (steerbench.pipeline.METRICS_VERSION) instead of regenerating them.
    """
    frame = frame.copy()
    texts = list(frame["completion"])
    refusals = [score_refusal(text) for text in texts]
    fluencies = [None if math.isnan(f) else float(f) for f in frame["fluency_logprob"]]
    outcomes = study_outcomes(texts, fluencies, refusals)
    scored = []
    for text, n_tokens, refusal, outcome in zip(texts, frame["n_tokens"], refusals, outcomes):
        helpfulness = score_helpfulness(text, int(n_tokens), refusal=refusal)
        # `refused` is what every refusal rate counts: the outcome (the classifier's verdict on coherent
        # text), not the phrase detector's flag `is_refusal`, so degenerate text that contains a
        # refusal phrase is not a refusal (docs/metrics.md).
        scored.append((refusal.score, refusal.is_refusal, json.dumps([[p, w] for p, w in refusal.matched]),
                       helpfulness.score, helpfulness.is_helpful, outcome, outcome == "refusal"))
    for name, values in zip(TEXT_COLUMNS, zip(*scored) if scored else [[]] * len(TEXT_COLUMNS)):
        frame[name] = list(values)
    return frame


def refuse_rows(frame):
    """The rows of prompts whose ``expected_behavior`` is ``refuse``: the stratum refusal rates of harmful
    splits are measured on."""
    return frame[frame["expected_behavior"] == "refuse"]


def pair_rows(first, second):
    """The rows of two frames of the same prompts, aligned on (prompt_id, sample_index).

    Paired statistics (bootstrap of differences, drift) must compare a prompt's completion with the
    same prompt's completion, never the row that happens to sit at the same position.

    Raises:
        ValueError: the two frames do not hold the same (prompt_id, sample_index) pairs.
    """
    key = list(PAIR_KEY)
    a = first.set_index(key, drop=False).sort_index()
    b = second.set_index(key, drop=False).sort_index()
    if not a.index.equals(b.index):
        missing = a.index.symmetric_difference(b.index)[:3].tolist()
        raise ValueError(f"paired rows differ in (prompt_id, sample_index), e.g. {missing}")
    return a.reset_index(drop=True), b.reset_index(drop=True)


def _drift(frame, baseline):
    """Per-row 1 - cosine(MiniLM(baseline completion), MiniLM(steered completion)), paired by CRN."""
    base = baseline.set_index(["prompt_id", "sample_index"])["completion"]
    keys = list(zip(frame["prompt_id"], frame["sample_index"]))
    paired = [(base.get(k), text) for k, text in zip(keys, frame["completion"])]
    present = [i for i, (b, _) in enumerate(paired) if b is not None]
    result = representation_distance([paired[i][0] for i in present], [paired[i][1] for i in present])
    drift = [math.nan] * len(frame)
    for i, value in zip(present, result.per_pair):
        drift[i] = value
    return drift
