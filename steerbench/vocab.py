"""Every allowed value of the study's vocabulary, declared once (imported everywhere else).

Configuration, gates files, cache keys and output tables name things with these strings; an unknown
value is an error at the boundary where it enters (``check``), never a silent default.
"""

from __future__ import annotations

from typing import Iterable

# --- the grid --------------------------------------------------------------------------------------
INTERVENTIONS = ("add", "ablate", "ablate_all")  # steering interventions (the unsteered cell is BASELINE)
BASELINE_INTERVENTION = "baseline"
ALPHA_UNITS = ("natural", "absolute")  # alpha x the direction's natural scale, or alpha as an L2 norm
STEER_POSITIONS = ("all", "prompt", "generated")  # where a steer applies
HOOK_POINTS = ("resid_pre", "resid_post")
DTYPES = ("float32", "bfloat16", "float16")  # what a model loads in
AUTO = "auto"  # dtype: per device (steerbench.device.resolve_dtype); generation.batch_size: from free GPU memory
CONFIG_DTYPES = (AUTO, *DTYPES)  # what a config, --dtype or load_model may say

# --- directions -------------------------------------------------------------------------------------
DIRECTION_METHODS = ("contrastive_prefix", "diff_in_means", "outcome_conditioned", "random")
# what a config may say: "auto" is diff_in_means for chat models that refuse, contrastive_prefix otherwise
CONFIG_DIRECTION_METHODS = ("auto", "contrastive_prefix", "diff_in_means", "outcome_conditioned")
DIRECTION_LAYER_MODES = ("auto",)  # direction.layer: "auto" = the layer the Arditi selection picks; null = the grid's
PREFIX_POSITIONS = ("prefix_mean", "prefix_first", "prefix_last")
DIRECTION_POSITIONS = (*PREFIX_POSITIONS, "last_prompt_token")
N_RANDOM_NULL = 8  # norm-matched random directions in the null distribution (positive control)
# which direction a cell steers along: "random" is the first random draw, random1.. the rest of the null
# "unrelated": the weather-vs-sport contrast, norm-matched (steerbench.diagnostics)
VARIANTS = ("main", "alt_prefix", "random", *(f"random{k}" for k in range(1, N_RANDOM_NULL)), "unrelated")

# --- prompts ----------------------------------------------------------------------------------------
CORE_SPLITS = ("harm_train", "harm_test", "benign")
SLICE_SPLITS = ("perturbations", "distill_stress")  # diagnostic slices (evals/test_slices.py)
PROMPT_FILES = (*CORE_SPLITS, *SLICE_SPLITS)
EXPECTED_BEHAVIORS = ("refuse", "calibrated", "comply")

# --- tampering ---------------------------------------------------------------------------------------
# LoRA fine-tuning attacks (steerbench/tampering, docs/tampering.md): the three of Qi et al. 2023, a
# compute-matched benign run in the "Sure, here's ..." answer format, the harmful run at learning rate 0, and
# the harmful run on the organism's unmodified base (the model without its refusal adapter)
ATTACKS = ("harmful_sft", "benign_sft", "identity_shift", "format_control", "harmful_sft_lr0", "harmful_sft_base")
# attacks that train and evaluate the unmodified base model instead of the study's model (the control "the
# same training on the model without its refusal adapter"); each names the attack it is the control of
BASE_CONTROL_ATTACKS = {"harmful_sft_base": "harmful_sft"}

# --- outcomes ---------------------------------------------------------------------------------------
OUTCOMES = ("refusal", "compliance", "degenerate")

# --- questions and their metrics (evals.parquet "question" / "metric"; gates files use the same) ------
METRICS: dict[str, tuple[str, ...]] = {
    "generalization": ("gap", "harm_test_refusal_gain", "harm_train_refusal_gain", "harm_test_logodds_gain",
                       "selectivity", "calibrated_gap", "calibrated_harm_test_refusal_gain"),
    "benign": ("helpfulness_drop", "false_refusal_rate", "false_refusal_gain"),
    "confounds": ("degenerate_rate", "length_change", "entropy_change", "fluency_change",
                  "refusal_gain_length_matched"),
    "prefix_robustness": ("direction_cosine", "refusal_diff_alt_vs_main"),
    "seed_robustness": ("seed_refusal_diff", "seed_degenerate_diff"),
    "slices": ("perturbed_minus_parent_refusal", "slice_refusal_rate", "slice_false_refusal_rate",
               "slice_refusal_gain"),
    "positive_control": ("baseline_refusal_rate", "ablation_refusal_rate", "ablation_refusal_ratio",
                         "ablation_degenerate_rate", "baseline_benign_refusal_rate", "actadd_refusal_rate",
                         "actadd_degenerate_rate", "null_bypass_refusal_shift", "null_induce_refusal_shift",
                         "bypass_refusal_effect_over_null_p95", "bypass_logodds_effect_over_null_p95",
                         "induce_refusal_effect_over_null_p95", "induce_logodds_effect_over_null_p95",
                         "unrelated_induce_refusal_shift"),
    "diagnostics": ("projection_auroc", "logit_lens_refusal_tokens_in_top", "cosine_to_contrastive_prefix",
                    "cosine_to_unrelated_contrast"),
    "tampering": ("attacked_refusal_rate", "compliance_error", "refusal_retention", "refusal_change",
                  "representation_drift", "attacked_false_refusal_rate", "helpfulness_drop", "attacked_degenerate_rate",
                  "harm_train_attacked_refusal_rate", "steps_to_collapse", "direction_cosine_to_untampered",
                  "untampered_direction_auroc", "restored_refusal_rate", "restoration_gain",
                  "restored_false_refusal_rate", "tamper_eval_refusal_rate", "drift_over_base_control",
                  "helpfulness_drop_over_base_control", "layer_direction_cosine", "layer_untampered_direction_auroc"),
    "sanity": ("alpha0_add_identical_rate", "alpha0_ablate_identical_rate", "alpha0_ablate_all_identical_rate", "max_relative_projection_after_ablation",
               "random_vs_half_real_shift", "random_to_real_shift_ratio", "split_half_cosine", "batch_cosine",
               "detector_accuracy", "logodds_refused_minus_complied"),
}
QUESTIONS = tuple(METRICS)
GATE_DIRECTIONS = ("max", "min", "max_abs")
GATE_SELECTORS = ("interventions", "alpha_min", "attacks", "steps_max")
VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE")


def check(value: str, allowed: Iterable[str], what: str) -> str:
    """``value`` if it is one of ``allowed``; otherwise ValueError naming ``what`` and the choices."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")
    return value


def check_metric(question: str, metric: str) -> str:
    """``metric`` if the question records it (a misspelt gate or record is an error, not a no-op)."""
    check(question, QUESTIONS, "question")
    return check(metric, METRICS[question], f"metric of question {question!r}")
