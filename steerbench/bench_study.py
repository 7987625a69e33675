"""`steerbench bench --study`: where one (cell, split) unit of the study spends its time, stage by stage,
against the pipeline before the study-level levers, both measured in the same run (issue 15).

The unit is what the study computes for every (cell, split): the split's prompts sampled under the cell's
steering, their propensity (held-out openers) and prefix diagnostic, the completions' fluency under the
unsteered model, and the text metrics with drift from the baseline's completions. Each stage runs the
functions `steerbench.rows.completion_rows` runs, timed one at a time:

  prefill       the sampling prefill (generate with one new token, no scoring)
  propensity    the opener and prefix scoring on that prefill (the same with scoring, minus the above)
  decode        the remaining decode steps (the whole sampling minus the two above)
  fluency       the completions under the unsteered model, on the split's memoised prompt prefill (what
                every cell after a split's first pays)
  text_metrics  the refusal classifier, degeneration stage, helpfulness, and drift (MiniLM) from the baseline

The previous pipeline, measured on the same prompts and completions: propensity and prefix diagnostic by
their own steered prefills (`metrics.logodds.refusal_logodds`, `prefix_logodds`), fluency by a prefill of its
own (no memo); prefill, decode and text metrics as above (the sampling without its scoring).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

STAGES = ("prefill", "propensity", "decode", "fluency", "text_metrics")


def _timed(fn):
    began = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - began


def measure_study_cell(study, cell, split: str = "harm_test") -> dict:
    """Stage timings (seconds) of one (cell, split) unit, current and previous pipeline; JSON-able."""
    import pandas as pd

    from steerbench.forward import PrefillMemo
    from steerbench.generation import GenRequest, SamplingConfig, generate
    from steerbench.interventions import row_steer
    from steerbench.metrics.logodds import fluency_logprobs, opener_prefixes, prefix_ids, prefix_logodds, refusal_logodds
    from steerbench.rows import drift_from_baseline, score_texts

    model, config, gen = study.model, study.config, study.config.generation
    prompts = list(study.splits[split])
    direction = study.direction(cell.layer)
    steer = row_steer(cell, direction.unit, direction.scale, direction.hook_point, config.alpha_units)
    sampling = SamplingConfig(gen.max_new_tokens, gen.temperature, gen.top_p, config.seed)
    one_token = dataclasses.replace(sampling, max_new_tokens=1)
    d = config.direction
    scored = (prefix_ids(model, d.refusal_prefix), prefix_ids(model, d.compliance_prefix), *opener_prefixes(model))

    def sample(steered: bool, settings=sampling, prefixes=scored):
        requests = [GenRequest(p.id, p.prompt, 0, steer if steered else None) for p in prompts]
        return generate(model, requests, settings, batch_size=gen.batch_size, score_prefixes=prefixes)

    sample(True, one_token)  # warm-up: kernels, allocator, lazy init
    baseline, baseline_s = _timed(lambda: sample(False))
    _, prefill_s = _timed(lambda: sample(True, one_token, ()))
    _, prefill_scored_s = _timed(lambda: sample(True, one_token))
    generations, sampling_s = _timed(lambda: sample(True))
    texts = [p.prompt for p in prompts]
    completion_ids = [g.token_ids[:-1] if g.ended_eos else g.token_ids for g in generations]
    memo = PrefillMemo()
    fluency, fluency_cold_s = _timed(lambda: fluency_logprobs(model, texts, completion_ids, batch_size=gen.batch_size,
                                                              memo=memo))
    _, fluency_warm_s = _timed(lambda: fluency_logprobs(model, texts, completion_ids, batch_size=gen.batch_size,
                                                        memo=memo))
    frame = pd.DataFrame({"prompt_id": [g.prompt_id for g in generations], "sample_index": 0,
                          "completion": [g.text for g in generations], "n_tokens": [g.n_tokens for g in generations],
                          "fluency_logprob": fluency})
    base = pd.DataFrame({"prompt_id": [g.prompt_id for g in baseline], "sample_index": 0,
                         "completion": [g.text for g in baseline]})
    _, text_s = _timed(lambda: (score_texts(frame), drift_from_baseline(frame, base)))
    steers = [steer] * len(prompts)
    _, previous_propensity_s = _timed(lambda: (
        refusal_logodds(model, texts, steers, batch_size=gen.batch_size),
        prefix_logodds(model, texts, steers, refusal_prefix=d.refusal_prefix, compliance_prefix=d.compliance_prefix,
                       batch_size=gen.batch_size)))
    # two stages are differences of timings: 0 where the work is below the timer's run-to-run noise (tiny models)
    propensity_s = max(0.0, prefill_scored_s - prefill_s)
    current = {"prefill": prefill_s, "propensity": propensity_s, "decode": max(0.0, sampling_s - prefill_scored_s),
               "fluency": fluency_warm_s, "text_metrics": text_s}
    previous = {**current, "propensity": previous_propensity_s, "fluency": fluency_cold_s}
    total, previous_total = sum(current.values()), sum(previous.values())
    return {
        "model": model.name, "device": model.device, "split": split, "cell": cell.id, "n_prompts": len(prompts),
        "max_new_tokens": gen.max_new_tokens, "batch_size": gen.batch_size, "profile": config.profile,
        "generated_tokens": sum(g.n_tokens for g in generations), "baseline_cell_s": baseline_s,
        "current_s": current, "previous_s": previous, "current_total_s": total, "previous_total_s": previous_total,
        "previous_vs_current": previous_total / total,
    }


def save_figure(result: dict, path: Path) -> Path:
    """Two stacked bars (current, previous pipeline), one segment a stage, seconds on the x axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 2.8))
    colors = dict(zip(STAGES, ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3")))
    for row, name in enumerate(("current", "previous")):
        left = 0.0
        for stage in STAGES:
            width = result[f"{name}_s"][stage]
            ax.barh(row, width, left=left, color=colors[stage], label=stage if row == 0 else None)
            if width > 0.04 * result["previous_total_s"]:
                ax.text(left + width / 2, row, f"{width:.1f}", ha="center", va="center", fontsize=8, color="white")
            left += width
        ax.text(left, row, f"  {left:.1f} s", va="center", fontsize=9)
    ax.set_yticks([0, 1], ["current", "previous"])
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    ax.set_xlim(0, result["previous_total_s"] * 1.15)
    ax.set_title(f"one study unit: {result['model']}, {result['split']} x {result['cell']}, {result['n_prompts']} prompts, "
                 f"{result['max_new_tokens']} tokens ({result['device']})\nprevious / current pipeline: "
                 f"{result['previous_vs_current']:.2f}x", fontsize=9)
    ax.legend(ncol=5, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3), frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)
    return path


def run(args) -> int:
    """The CLI: one unit of the configured study (the fast profile by default) on ``--model``."""
    import json

    from steerbench.config import load_config
    from steerbench.interventions import Cell
    from steerbench.pipeline import open_study
    from steerbench.progress import report

    rootdir = Path.cwd()
    overrides = {"model": args.model, "profile": args.profile, "dtype": args.dtype,
                 **({"device": args.device} if args.device else {})}
    study = open_study(load_config(rootdir=rootdir, overrides=overrides), rootdir=rootdir, progress=report)
    cell = Cell(study.layers[len(study.layers) // 2], "add", float(study.config.robustness_alpha))
    result = measure_study_cell(study, cell)
    result["figure"] = str(save_figure(result, Path(args.out) / "study_cell.png"))
    if args.json:
        print(json.dumps(result, sort_keys=True))
        return 0
    print(f"one study unit of the {result['profile']} profile: {result['model']} on {result['device']}, "
          f"{result['split']} x {result['cell']}, {result['n_prompts']} prompts, {result['max_new_tokens']} new tokens")
    print(f"  {'stage':<14}{'current':>10}{'previous':>10}")
    for stage in STAGES:
        print(f"  {stage:<14}{result['current_s'][stage]:>9.1f}s{result['previous_s'][stage]:>9.1f}s")
    print(f"  {'total':<14}{result['current_total_s']:>9.1f}s{result['previous_total_s']:>9.1f}s   "
          f"previous / current {result['previous_vs_current']:.2f}x")
    print(f"  figure {result['figure']}")
    return 0
