"""Prompt sets: typed records, loaders, and the tools that make, ingest and validate them.

The harness uses ``load_split("harm_train")``, ``load_split("harm_test")`` and
``load_split("benign")``; ``load_split("perturbations")`` and ``load_split("distill_stress")`` hold
the diagnostic slices. data/prompts/README.md describes the files. ``split_for_direction`` cuts
harm_train into the half that builds directions and the half the evals score.
"""

from steerbench.prompts.holdout import BuildSplit, split_for_direction
from steerbench.prompts.load import load_prompt_file, load_split
from steerbench.prompts.schema import Prompt, PromptMeta, PromptSet

__all__ = ["BuildSplit", "Prompt", "PromptMeta", "PromptSet", "load_prompt_file", "load_split", "split_for_direction"]
