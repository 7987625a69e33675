"""Arditi-style selection of a diff-in-means refusal direction (Arditi et al. 2024, andyrdt/refusal_direction).

Candidates: the difference of mean residuals (``resid_pre``) between harmful and harmless prompts,
at every layer x every post-instruction position (the template's tokens after the user message,
e.g. ``<|im_end|> \\n <|im_start|> assistant \\n``). Each candidate is scored on a validation split:

  bypass   mean refusal log-odds of harmful prompts under directional ablation at every layer (lower = better)
  induce   mean refusal log-odds of harmless prompts with the raw vector added at its layer (must be > 0)
  kl       mean KL(unsteered || ablated) of the next-token distribution on harmless prompts (must be < 0.1)

and the selected one is the lowest bypass among those with induce > 0, kl < 0.1 and layer < 0.8 L.

Where steerbench matches the paper: candidates, positions, resid_pre, the three scores, the three
filters and the thresholds; harmful prompts kept only if the model refuses them and harmless ones
only if it answers them. Where it differs: (1) the refusal score is the study's held-out-opener
log-odds (steerbench.metrics.logodds: whole openers such as "I cannot" vs "Certainly"), not the
probability of a model-specific first-token set; (2) the filter is the model's greedy completion
judged by the study's detector, not the sign of that token score; (3) the prompts are the
direction-building half of harm_train (``refuse`` prompts) and benign, each cut again into a
candidate part and a validation part by the same stratified rule, so nothing the evals score is
ever used here; the paper uses 128 + 32 prompts per side, this has about 20 + 20 harmful (the
organism's build half), recorded as ``n_*`` in the selection record.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from steerbench.cache import atomic_write, locked, request_key
from steerbench.data_files import packaged_data_dir
from steerbench.directions import Direction, direction_from_contrasts
from steerbench.errors import SteerbenchError
from steerbench.forward import capture_residuals, score_packed, shared_prefix_prefills
from steerbench.interventions import Cell, SteeringHooks, row_steer
from steerbench.metrics.logodds import COMPLIANCE_OPENERS, REFUSAL_OPENERS, opener_prefixes, propensity_from_scores
from steerbench.prompts.holdout import split_for_direction
from steerbench.prompts.schema import PromptSet

SELECTION_VERSION = "2"  # 2: the screening scores induce only where KL and layer leave a chance
HOOK_POINT = "resid_pre"  # the paper reads and adds at each block's input
DEGENERATE_SCALE = 1e-6  # a mean difference smaller than this has no direction
# Committed selections (``data/selections/<key>/``, shipped with the package like the organism's adapter): an
# entry whose key is this run's and whose files match their recorded hashes is copied into the cache instead
# of being recomputed (3 minutes on 2 cores); `steerbench direction select --commit` writes one, and
# tests/test_selection_committed.py checks that it is current (and, with STEERBENCH_FULL_SELECTION=1, that a
# search reproduces it).
COMMITTED_DIR = packaged_data_dir() / "selections"
ENTRY_FILES = ("candidates.parquet", "candidates.safetensors")


class SelectionError(SteerbenchError):
    """No candidate passes the filters, or the model gives too few usable prompts."""


@dataclass(frozen=True)
class SelectionConfig:
    """The paper's thresholds and this project's prompt budget."""

    n_val: int = 32  # validation prompts per side at most (the paper: 32)
    kl_threshold: float = 0.1
    induce_threshold: float = 0.0
    prune_layer_fraction: float = 0.2  # candidates from the last 20% of the layers are discarded
    filter_tokens: int = 16  # greedy tokens that decide whether the model refuses a build prompt
    batch_size: int = 32
    min_prompts: int = 8  # fewer kept prompts on a side than this is an error
    screen_prompts: int = 4  # validation prompts per side that screen every candidate
    finalists: int = 8  # screened candidates scored again on the whole validation split
    candidates_per_pass: int = 16  # candidates whose rows share the forward passes
    screen_slack: float = 2.0  # a finalist's screened KL may be up to this x the threshold
    screen_slack_logodds: float = 0.5  # ... and its screened induce score this far below the threshold


@dataclass(frozen=True)
class SelectionRequest:
    """Every input of one selection (its cache key)."""

    model: str
    harmful: str  # content hash of the harmful build prompts
    harmless: str
    config: dict
    openers: tuple
    detector: str  # the text metrics' fingerprint (the filter reads the detector)
    version: str


@dataclass(frozen=True)
class Selection:
    """The chosen candidate, every candidate's scores and where they are stored."""

    layer: int
    position: int  # negative offset from the end of the formatted prompt (-1 = last token)
    token: str
    direction: Direction
    record: dict  # selection.json: baselines, the chosen scores, prompt counts and ids
    candidates_path: Path  # parquet: one row per (position, layer)
    root: Path

    def candidates(self):
        import pandas as pd

        return pd.read_parquet(self.candidates_path)


def post_instruction_ids(model) -> list[int]:
    """The template's token ids after the user message (the positions candidates are read at)."""
    marker = "\u2063steerbench\u2063"
    formatted = model.format_prompt(marker)
    tail = formatted[formatted.index(marker) + len(marker):]
    ids = list(model.tokenizer(tail, add_special_tokens=False)["input_ids"])
    if not ids:
        raise SelectionError(f"{model.name}: the prompt template adds no tokens after the user message; "
                             "diff-in-means selection needs at least one post-instruction position")
    return ids


def split_build_part(prompts: PromptSet) -> tuple[PromptSet, PromptSet]:
    """(candidate part, validation part) of a direction-building set, by the stratified half rule."""
    cut = split_for_direction(prompts)
    return cut.build, cut.held_out


def _greedy_outcomes(model, prompts: PromptSet, config: SelectionConfig) -> dict[str, str]:
    from steerbench.generation import GenRequest, SamplingConfig, generate
    from steerbench.metrics.classifier import study_outcomes

    sampling = SamplingConfig(max_new_tokens=config.filter_tokens, temperature=0.0, top_p=1.0, seed=0)
    generations = generate(model, [GenRequest(p.id, p.prompt) for p in prompts], sampling, batch_size=config.batch_size)
    return dict(zip([g.prompt_id for g in generations], study_outcomes([g.text for g in generations])))


def _kept(prompts: PromptSet, outcomes: dict[str, str], wanted: str) -> PromptSet:
    return PromptSet(prompts.name, tuple(p for p in prompts if outcomes[p.id] == wanted))


def _mean_diffs(model, harmful: PromptSet, harmless: PromptSet, n_pos: int, n_layers: int):
    """Per-prompt contrasts [n_harmful, P, L, d]: each harmful read minus the harmless mean."""
    def reads(prompts: PromptSet) -> torch.Tensor:
        sequences = [model.encode(model.format_prompt(p.prompt)) for p in prompts]
        picks = [list(range(len(s) - n_pos, len(s))) for s in sequences]
        return torch.stack(capture_residuals(model, sequences, picks, list(range(n_layers)), HOOK_POINT)).double()

    return (reads(harmful) - reads(harmless).mean(0)).float()


@torch.inference_mode()
def _group_scores(model, contexts, steers, openers, batch_size: int, want_last: bool = True):
    """(refusal log-odds per row, last-position log-softmax per row [n, vocab] float64, or None
    without ``want_last``) under per-row ``steers`` (rows that share a steer object share the system
    prompt's prefill; openers in one pass; no openers, no log-odds)."""
    logodds = np.full(len(contexts), math.nan)
    last = [None] * len(contexts)
    with model.residual_only():
        for chunk, state in shared_prefix_prefills(model, contexts, steers, batch_size=batch_size):
            scores = score_packed(model, state, openers) if openers else None
            log_probs = torch.log_softmax(state.last_logits.double(), dim=-1).cpu() if want_last else None
            for row, i in enumerate(chunk):
                if scores is not None:
                    logodds[i] = propensity_from_scores(scores[row])
                if want_last:
                    last[i] = log_probs[row]
    return logodds, (torch.stack(last) if want_last else None)


def _kl(reference: torch.Tensor, other: torch.Tensor) -> float:
    """Mean over rows of KL(reference || other), both log-probabilities."""
    return float((reference.exp() * (reference - other)).sum(-1).mean())


SCORE_PARTS = ("bypass", "kl", "induce")


def _score(model, candidates, units, scales, harmful, harmless, openers, config, progress, what: str,
           parts: tuple[str, ...] = SCORE_PARTS) -> list[dict]:
    """The ``parts`` of bypass / KL / induce of each (position index, layer) in ``candidates``.

    bypass: harmful rows under all-layer ablation, scored on the openers; kl: harmless rows under
    the same ablation, last-position distribution only (no opener pass); induce: harmless rows with
    the vector added, scored on the openers. ``candidates_per_pass`` candidates share each forward
    pass (rows steered per row), which keeps the batches full and the Python overhead of 90 ablation
    hooks per pass amortised.
    """
    n_pos = units.shape[0]
    rows: list[dict] = []
    step = config.candidates_per_pass
    h, b = len(harmful), len(harmless)
    for start in range(0, len(candidates), step):
        group = candidates[start:start + step]
        scored, scored_steers, plain, plain_steers, spans = [], [], [], [], []
        for p, layer in group:
            unit, scale = units[p, layer], float(scales[p, layer])
            ablation = row_steer(Cell(layer, "ablate_all", 1.0), unit, scale, HOOK_POINT)
            span = {}
            if "bypass" in parts:
                span["bypass"] = len(scored)
                scored += harmful
                scored_steers += [ablation] * h
            if "induce" in parts:
                span["induce"] = len(scored)
                scored += harmless
                scored_steers += [row_steer(Cell(layer, "add", 1.0), unit, scale, HOOK_POINT)] * b
            if "kl" in parts:
                span["kl"] = len(plain)
                plain += harmless
                plain_steers += [ablation] * b
            spans.append(span)
        logodds = _group_scores(model, scored, scored_steers, openers, config.batch_size, want_last=False)[0] if scored else None
        last = _group_scores(model, plain, plain_steers, None, config.batch_size)[1] if plain else None
        for (p, layer), span in zip(group, spans):
            row = {"position": p - n_pos, "layer": layer, "scale": float(scales[p, layer])}
            if "bypass" in span:
                row["bypass_score"] = float(logodds[span["bypass"]:span["bypass"] + h].mean())
            if "induce" in span:
                row["induce_score"] = float(logodds[span["induce"]:span["induce"] + b].mean())
            if "kl" in span:
                row["ablated_last"] = last[span["kl"]:span["kl"] + b]
            rows.append(row)
        done = start + len(group)
        if done % 30 < step or done == len(candidates):
            progress(f"direction select: {what} {done}/{len(candidates)} candidates")
    return rows


def _still_open(frame, kl_column: str, n_layers: int, config: SelectionConfig):
    """Candidates whose screening leaves them a chance: early enough, a contrast, KL within the slack."""
    cutoff = int(n_layers * (1.0 - config.prune_layer_fraction))
    return ((frame["layer"] < cutoff) & (frame["scale"] >= DEGENERATE_SCALE)
            & (frame[kl_column] <= config.kl_threshold * config.screen_slack))


def score_candidates(model, units: torch.Tensor, scales: torch.Tensor, harmful_val: PromptSet, harmless_val: PromptSet,
                     config: SelectionConfig, progress: Callable[[str], None] = lambda m: None):
    """One row per candidate (position, layer): bypass, induce and KL scores, plus the baselines.

    Two stages, because the paper's protocol (every candidate on the whole validation split) costs
    ~20 minutes on 2 CPU cores here: every candidate is *screened* on the first ``screen_prompts``
    validation prompts of each side, and the ``finalists`` best screened candidates that pass the
    filters (KL and induce relaxed by ``screen_slack``) are scored again on the whole validation
    split; the filters and the choice use those final scores. ``stage`` says which a row holds;
    the screening scores are kept as ``screen_*`` for every candidate. The screening's induce score
    is computed only for candidates that the layer, contrast and KL screens leave open (it cannot
    change the fate of the others); the rest have NaN there.
    """
    import pandas as pd

    n_pos, n_layers, _ = units.shape
    openers = opener_prefixes(model)
    encode = lambda prompts: [model.encode(model.format_prompt(p.prompt)) for p in prompts]  # noqa: E731
    harmful, harmless = encode(harmful_val), encode(harmless_val)
    base_harmful, _ = _group_scores(model, harmful, None, openers, config.batch_size)
    base_harmless, base_last = _group_scores(model, harmless, None, openers, config.batch_size)
    k = config.screen_prompts
    every = [(p, layer) for p in range(n_pos) for layer in range(n_layers)]
    screening = f"screened on {min(k, len(harmful))} + {min(k, len(harmless))} prompts"
    screened = pd.DataFrame(_score(model, every, units, scales, harmful[:k], harmless[:k], openers, config, progress,
                                   f"{screening} (bypass, KL)", parts=("bypass", "kl")))
    screened["kl"] = [_kl(base_last[:k], last) for last in screened.pop("ablated_last")]
    # The induce score is screened only where it can still matter: a late-layer, contrast-free or
    # KL-failing candidate is out whatever its induce score (a third of the screening saved).
    open_ = screened[_still_open(screened, "kl", n_layers, config)]
    induced = pd.DataFrame(_score(model, [(int(p) + n_pos, int(layer)) for p, layer in zip(open_["position"], open_["layer"])],
                                  units, scales, harmful[:k], harmless[:k], openers, config, progress,
                                  f"{screening} (induce, the {len(open_)} that pass KL and layer)", parts=("induce",)),
                           columns=["position", "layer", "induce_score"])
    screened = screened.merge(induced[["position", "layer", "induce_score"]], on=["position", "layer"], how="left")
    frame = screened.rename(columns={c: f"screen_{c}" for c in ("bypass_score", "induce_score", "kl")})
    eligible = frame[_still_open(frame, "screen_kl", n_layers, config)
                     & (frame["screen_induce_score"] >= config.induce_threshold - config.screen_slack_logodds)]
    finalists = eligible.sort_values(["screen_bypass_score", "layer", "position"]).head(config.finalists)
    final = pd.DataFrame(_score(model, [(int(p) + n_pos, int(layer)) for p, layer in zip(finalists["position"], finalists["layer"])],
                                units, scales, harmful, harmless, openers, config, progress,
                                f"final scores on {len(harmful)} + {len(harmless)} prompts"))
    if len(final):
        final["kl"] = [_kl(base_last, last) for last in final.pop("ablated_last")]
    frame = frame.merge(final[["position", "layer", "bypass_score", "induce_score", "kl"]] if len(final) else
                        pd.DataFrame(columns=["position", "layer", "bypass_score", "induce_score", "kl"]),
                        on=["position", "layer"], how="left")
    frame["stage"] = np.where(frame["bypass_score"].notna(), "final", "screen")
    for column in ("bypass_score", "induce_score", "kl"):
        frame[column] = frame[column].astype(float).fillna(frame[f"screen_{column}"])
    frame["baseline_harmful_score"] = float(base_harmful.mean())
    frame["baseline_harmless_score"] = float(base_harmless.mean())
    frame["screen_baseline_harmful_score"] = float(base_harmful[:k].mean())
    frame["screen_baseline_harmless_score"] = float(base_harmless[:k].mean())
    return frame


def apply_filters(frame, n_layers: int, config: SelectionConfig):
    """Add ``discarded`` (why a candidate is out: "", or reasons joined by ",") and ``selected``.

    A candidate that was only screened is out as "screened" (besides any filter its screening
    scores fail); the selected one is the lowest final bypass score that passes every filter.
    """
    frame = frame.copy()
    cutoff = int(n_layers * (1.0 - config.prune_layer_fraction))
    reasons = []
    for row in frame.itertuples():
        why = []
        if any(math.isnan(v) for v in (row.bypass_score, row.kl)):
            why.append("nan")
        if row.scale < DEGENERATE_SCALE:  # no contrast at this position (e.g. the embeddings of template tokens)
            why.append("degenerate")
        if row.layer >= cutoff:
            why.append("late_layer")
        if row.kl > config.kl_threshold:
            why.append("kl")
        if row.induce_score < config.induce_threshold:
            why.append("induce")
        if getattr(row, "stage", "final") != "final":
            why.append("screened")
        if math.isnan(row.induce_score) and not why:  # unscored induce is a reason only if nothing else is
            why.append("nan")
        reasons.append(",".join(why))
    frame["discarded"] = reasons
    survivors = frame[frame["discarded"] == ""]
    frame["selected"] = False
    if len(survivors):
        best = survivors.sort_values(["bypass_score", "layer", "position"]).index[0]
        frame.loc[best, "selected"] = True
    return frame


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def select_direction(model, harmful_build: PromptSet, harmless_build: PromptSet, cache_root: Path, *,
                     config: SelectionConfig = SelectionConfig(), provenance: dict | None = None,
                     progress: Callable[[str], None] = lambda m: None) -> Selection:
    """Run (or read from the cache) the selection on the direction-building prompts.

    Args:
        model: a loaded SteerModel.
        harmful_build: the harmful direction-building prompts (``refuse`` ones are used).
        harmless_build: the harmless direction-building prompts.
        cache_root: the study cache; the result lives in ``<cache_root>/selection/<key>/``.

    Raises:
        SelectionError: too few refused / answered prompts, or no candidate passes the filters
            (the scores are still saved and the message says where).
    """
    harmful_build = _refuse_prompts(harmful_build)
    key = selection_key(model.fingerprint, harmful_build, harmless_build, config)
    root = cache_root / "selection" / key
    with locked(root):
        if not _entry_is_sound(root):
            if (root / "selection.json").exists():
                progress(f"direction select: the cached selection {root} does not match its recorded hashes "
                         "(damaged); recomputing it")
            if _entry_is_sound(COMMITTED_DIR / key):
                progress(f"direction select: the committed selection {key} (data/selections) matches every input; "
                         "using it")
                copy_entry(COMMITTED_DIR / key, root)
            else:
                _compute(model, harmful_build, harmless_build, root, config, provenance or {}, progress)
    return load_selection(root)


def _refuse_prompts(harmful_build: PromptSet) -> PromptSet:
    return PromptSet(harmful_build.name, tuple(p for p in harmful_build if p.meta.expected_behavior == "refuse"))


def selection_key(model_fingerprint: str, harmful_build: PromptSet, harmless_build: PromptSet,
                  config: SelectionConfig = SelectionConfig()) -> str:
    """The cache key of a selection: every input (model, prompts, thresholds, openers, detector, code version)."""
    from steerbench.pipeline import metrics_fingerprint

    return request_key(SelectionRequest(
        model=model_fingerprint, harmful=_refuse_prompts(harmful_build).content_hash(),
        harmless=harmless_build.content_hash(), config=asdict(config), openers=(REFUSAL_OPENERS, COMPLIANCE_OPENERS),
        detector=metrics_fingerprint(), version=SELECTION_VERSION))


def copy_entry(source: Path, root: Path) -> None:
    """Copy a sound entry's files into ``root``, the record last (it is what marks the entry complete)."""
    import shutil

    root.mkdir(parents=True, exist_ok=True)
    (root / "selection.json").unlink(missing_ok=True)
    for name in (*ENTRY_FILES, "selection.json"):
        atomic_write(root / name, lambda tmp, name=name: shutil.copyfile(source / name, tmp))


def _entry_is_sound(root: Path) -> bool:
    """The entry exists and its files are the ones its record names (a damaged entry is recomputed)."""
    record_path = root / "selection.json"
    if not record_path.exists():
        return False
    try:
        record = json.loads(record_path.read_text())
        return all((root / name).exists() and _sha(root / name) == digest for name, digest in record["files"].items())
    except (ValueError, KeyError, OSError):
        return False


def _compute(model, harmful_build, harmless_build, root: Path, config, provenance: dict, progress) -> None:
    from safetensors.torch import save_file

    root.mkdir(parents=True, exist_ok=True)
    (root / "selection.json").unlink(missing_ok=True)
    n_layers, eoi = model.n_layers, post_instruction_ids(model)
    tokens = [model.tokenizer.decode([i]) for i in eoi]
    progress(f"direction select: greedy completions of {len(harmful_build) + len(harmless_build)} build prompts (filter)")
    outcomes = {**_greedy_outcomes(model, harmful_build, config), **_greedy_outcomes(model, harmless_build, config)}
    harmful = _kept(harmful_build, outcomes, "refusal")
    harmless = _kept(harmless_build, outcomes, "compliance")
    for side, kept, total in (("harmful", harmful, harmful_build), ("harmless", harmless, harmless_build)):
        if len(kept) < 2 * config.min_prompts:
            wanted = "refuses" if side == "harmful" else "answers"
            raise SelectionError(
                f"{model.name}: the model {wanted} only {len(kept)} of {len(total)} {side} direction-building prompts; "
                f"selection needs {2 * config.min_prompts} (half for candidates, half for validation): a model that "
                "does not refuse has no refusal direction to select (use the refusal organism, smollm2-135m-refusal)")
    harmful_train, harmful_val = split_build_part(harmful)
    harmless_train, harmless_val = split_build_part(harmless)
    harmful_val, harmless_val = harmful_val.limit(config.n_val), harmless_val.limit(config.n_val)
    progress(f"direction select: {len(eoi)} positions x {n_layers} layers from {len(harmful_train)} harmful / "
             f"{len(harmless_train)} harmless prompts; validating on {len(harmful_val)} / {len(harmless_val)}")
    contrasts = _mean_diffs(model, harmful_train, harmless_train, len(eoi), n_layers)  # [n, P, L, d]
    means = contrasts.double().mean(0)
    scales = means.norm(dim=-1)
    units = (means / scales.clamp_min(1e-12)[..., None]).float()
    frame = apply_filters(score_candidates(model, units, scales, harmful_val, harmless_val, config, progress), n_layers, config)
    frame["token"] = [tokens[p] for p in frame["position"]]
    atomic_write(root / "candidates.parquet", lambda tmp: frame.to_parquet(tmp, index=False))
    chosen = frame[frame["selected"]]
    # every candidate's unit vector (the diagnostics read them) and the per-prompt contrasts of the chosen one
    # only (its direction's statistics): 0.5 MB instead of the 7 MB of every candidate's contrasts
    tensors = {"units": units.contiguous()}
    if not chosen.empty:
        p_index, layer = len(eoi) + int(chosen["position"].iloc[0]), int(chosen["layer"].iloc[0])
        tensors["selected_contrasts"] = contrasts[:, p_index, layer].contiguous()
    atomic_write(root / "candidates.safetensors", lambda tmp: save_file(tensors, str(tmp)))
    record = {
        "model": model.name, "model_fingerprint": model.fingerprint, "n_layers": n_layers,
        "positions": {str(p - len(eoi)): tokens[p] for p in range(len(eoi))}, "config": asdict(config),
        "method": "diff_in_means", "hook_point": HOOK_POINT, "openers": [REFUSAL_OPENERS, COMPLIANCE_OPENERS],
        "n_harmful_build": len(harmful_build), "n_harmless_build": len(harmless_build),
        "n_harmful_refused": len(harmful), "n_harmless_answered": len(harmless),
        "n_harmful_train": len(harmful_train), "n_harmless_train": len(harmless_train),
        "n_harmful_val": len(harmful_val), "n_harmless_val": len(harmless_val),
        "prompt_ids": {"harmful_train": harmful_train.ids(), "harmless_train": harmless_train.ids(),
                       "harmful_val": harmful_val.ids(), "harmless_val": harmless_val.ids()},
        "baseline_harmful_score": float(frame["baseline_harmful_score"].iloc[0]),
        "baseline_harmless_score": float(frame["baseline_harmless_score"].iloc[0]),
        "discard_counts": {reason: int(frame["discarded"].str.contains(reason).sum())
                           for reason in ("late_layer", "kl", "induce", "nan", "degenerate", "screened")},
        "selected": None if chosen.empty else {k: (v.item() if hasattr(v, "item") else v)
                                               for k, v in chosen.iloc[0].to_dict().items()},
        "provenance": provenance,
    }
    record["built_on"] = {"cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__}
    record["files"] = {name: _sha(root / name) for name in ENTRY_FILES}
    atomic_write(root / "selection.json", lambda tmp: tmp.write_text(json.dumps(record, indent=2, sort_keys=True)))


def load_selection(root: Path) -> Selection:
    """The Selection stored in ``root`` (raises SelectionError if no candidate passed)."""
    from safetensors.torch import load_file

    record = json.loads((root / "selection.json").read_text())
    chosen = record["selected"]
    if chosen is None:
        counts = ", ".join(f"{k} {v}" for k, v in record["discard_counts"].items())
        raise SelectionError(f"{record['model']}: every diff-in-means candidate was discarded ({counts} of "
                             f"{record['n_layers'] * len(record['positions'])}); scores: {root / 'candidates.parquet'}")
    n_pos = len(record["positions"])
    p_index, layer = n_pos + int(chosen["position"]), int(chosen["layer"])
    stored = load_file(str(root / "candidates.safetensors"))
    # entries written before 2026-12-07 kept every candidate's contrasts ([n, positions, layers, d])
    contrasts = stored["selected_contrasts"] if "selected_contrasts" in stored else stored["contrasts"][:, p_index, layer]
    direction = direction_from_contrasts(
        contrasts, layer=layer, hook_point=HOOK_POINT, method="diff_in_means", position=f"pos{int(chosen['position'])}",
        provenance={"model": record["model"], "model_fingerprint": record["model_fingerprint"], "selected_by": "arditi",
                    "selection_key": root.name, "n_prompts": record["n_harmful_train"],
                    "n_benign": record["n_harmless_train"], **record["provenance"]})
    return Selection(layer=layer, position=int(chosen["position"]), token=chosen["token"], direction=direction,
                     record=record, candidates_path=root / "candidates.parquet", root=root)
