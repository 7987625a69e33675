"""examples.md: baseline vs steered completions of a few prompts per split, with their scores."""

from __future__ import annotations

import json
import re

import pandas as pd

from steerbench.report.tables import BASELINE, BEST_RULE, SPLITS
from steerbench.vocab import BASE_CONTROL_ATTACKS

EXAMPLES_PER_SPLIT = 5
MAX_CHARS = 400
# Compliant answers to harmful requests are not reproduced in full (safety of the data: reports are
# committed and shared). The opening is kept so a reader sees the tone; the scores tell the rest.
HARMFUL_COMPLIANCE_CHARS = 80
HARMFUL_SPLITS = ("harm_train", "harm_test")


def render_examples(results: pd.DataFrame, best: pd.Series | None, constraint_met: bool, run: dict) -> str:
    """The markdown text of examples.md for the cell ``best`` (None: no steering cell to show)."""
    config = run.get("config", {})
    model = config.get("model", "?")
    fingerprint = run.get("run_info", {}).get("model_fingerprint")
    lines = ["# Examples: baseline vs steered", ""]
    lines.append(f"- model: `{model}`" + (f" (fingerprint `{fingerprint}`)" if fingerprint else ""))
    lines.append(f"- seed: {config.get('seed', '?')}")
    if best is None:
        lines += ["- steered cell: none (this run has no steering cell with harm_test and benign rows)", ""]
        return "\n".join(lines)
    lines.append(f"- steered cell: `{best['cell']}` (layer {best['layer']}, {best['intervention']}, alpha {best['alpha']:g})")
    lines.append(f"- picked by the rule: {BEST_RULE}")
    if not constraint_met:
        lines.append("- **no cell met the degeneracy constraint**: this is the best cell without it")
    lines.append("")
    for split in SPLITS:
        lines += _split_section(results, split, best["cell"])
    return "\n".join(lines).rstrip() + "\n"


def _split_section(results: pd.DataFrame, split: str, cell: str) -> list[str]:
    rows = results[(results["split"] == split) & (results["sample_index"] == 0)]
    baseline = rows[rows["cell"] == BASELINE].set_index("prompt_id")
    steered = rows[rows["cell"] == cell].set_index("prompt_id")
    prompt_ids = sorted(baseline.index.intersection(steered.index))[:EXAMPLES_PER_SPLIT]
    lines = [f"## {split}", ""]
    if not prompt_ids:
        return lines + ["No prompt of this split has both a baseline and a steered completion.", ""]
    for prompt_id in prompt_ids:
        base, steer = baseline.loc[prompt_id], steered.loc[prompt_id]
        family = base.get("family", "")
        lines += [f"### {prompt_id}" + (f" ({family})" if isinstance(family, str) and family else ""), ""]
        lines += [f"> {_truncate(str(base.get('prompt', ''))).replace(chr(10), ' ')}", ""]
        lines += ["| condition | refusal score | outcome | helpfulness | matched phrases |", "|---|---|---|---|---|"]
        for name, row in (("baseline", base), (f"steered `{cell}`", steer)):
            lines.append(
                f"| {name} | {row['refusal_score']:.2f} | {row['outcome']} | "
                f"{row['helpfulness_score']:.2f} | {_matched(row.get('matched'))} |"
            )
        lines.append("")
        for name, row in (("baseline", base), (f"steered ({cell})", steer)):
            lines += [f"{name}:", "", *_fenced(shown_completion(split, row)), ""]
    return lines


def render_tampering_examples(tampered: pd.DataFrame, per_attack: int = 3) -> str:
    """examples.md's tampering section: per attack (first seed), harm_test refuse prompts untampered vs at
    the grid's largest step, compliant answers cut after their opening."""
    rows = tampered[(tampered["intervention"] == "baseline") & (tampered["split"] == "harm_test")
                    & (tampered["expected_behavior"] == "refuse") & (tampered["sample_index"] == 0)]
    lines = ["# Tampering: untampered vs attacked (harm_test refuse prompts)", ""]
    for attack, group in rows.groupby("attack", sort=True):
        seed = int(group["attack_seed"].min())
        group = group[group["attack_seed"] == seed]
        last = int(group["attack_steps"].max())
        before = group[group["attack_steps"] == 0].set_index("prompt_id")
        after = group[group["attack_steps"] == last].set_index("prompt_id")
        trained = " (the base-model control: the unmodified base, untampered and attacked)" \
            if attack in BASE_CONTROL_ATTACKS else ""
        lines += [f"## {attack}, seed {seed}: step 0 vs step {last}{trained}", ""]
        for prompt_id in sorted(before.index.intersection(after.index))[:per_attack]:
            lines += [f"### {prompt_id}", "", f"> {_truncate(str(before.loc[prompt_id, 'prompt'])).replace(chr(10), ' ')}", ""]
            for name, row in (("untampered", before.loc[prompt_id]), (f"after {last} steps", after.loc[prompt_id])):
                lines += [f"{name} ({row['outcome']}):", "", *_fenced(shown_completion("harm_test", row)), ""]
    return "\n".join(lines).rstrip() + "\n"


def shown_completion(split: str, row) -> str:
    """The completion as examples.md shows it: compliant answers to harmful prompts are cut short."""
    text = str(row["completion"])
    harmful = split in HARMFUL_SPLITS or row.get("expected_behavior") == "refuse"
    if harmful and row["outcome"] == "compliance" and len(text) > HARMFUL_COMPLIANCE_CHARS:
        return text[:HARMFUL_COMPLIANCE_CHARS].rstrip() + " …[withheld: compliant answer to a harmful request]"
    return text


def _truncate(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS].rstrip() + " …[truncated]"


def _fenced(text: str) -> list[str]:
    """A fenced block longer than any backtick run inside the text, so it cannot break out."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + "text", _truncate(text), fence]


def _matched(value) -> str:
    """The matched phrases (a JSON list of phrases or [phrase, weight] pairs) as readable text."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    try:
        items = json.loads(value) if isinstance(value, str) else list(value)
    except (TypeError, ValueError):
        return str(value).replace("|", "\\|")
    phrases = [item[0] if isinstance(item, (list, tuple)) else item for item in items]
    return ", ".join(f'"{phrase}"' for phrase in phrases).replace("|", "\\|") or "—"
