"""Model organisms: small models given the behaviour under study by a documented, reproducible recipe.

``smollm2-135m-refusal`` is SmolLM2-135M-Instruct + a LoRA adapter trained to refuse harmful requests
in every style while answering near-miss and ordinary requests in the base model's own words
(docs/organisms.md).
"""

from steerbench.organism.build import (
    ORGANISMS,
    DistillRecipe,
    Organism,
    OrganismRecipe,
    build_organism,
    find_organism,
    merged_checkpoint,
)
from steerbench.organism.data import DataRecipe, organism_prompts
from steerbench.organism.train import TrainRecipe

__all__ = [
    "ORGANISMS", "DataRecipe", "DistillRecipe", "Organism", "OrganismRecipe", "TrainRecipe",
    "build_organism", "find_organism", "merged_checkpoint", "organism_prompts",
]
