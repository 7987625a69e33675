"""Tampering: does refusal survive a LoRA fine-tuning attack? (evals/test_tampering.py, docs/tampering.md)

``attack`` holds the attacks' recipes and the one training run per (model, attack, seed) that keeps the
adapter at every grid step; ``apply`` runs a loaded model with such an adapter merged in; ``curves``
computes steps-to-collapse; ``data`` the attacker's own prompt splits.
"""

from steerbench.tampering.apply import attacked
from steerbench.tampering.attack import AttackRecipe, AttackRun, run_attack, unmodified_base
from steerbench.tampering.curves import collapse_step, steps_to_collapse
from steerbench.tampering.data import AttackData, attack_prompts

__all__ = ["AttackData", "AttackRecipe", "AttackRun", "attack_prompts", "attacked", "collapse_step",
           "run_attack", "steps_to_collapse", "unmodified_base"]
