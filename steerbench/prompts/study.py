"""The study's prompt sets: what the evals score, what builds the directions, which files they came from.

harm_train is cut by `split_for_direction` (and benign too, for direction methods that contrast
with benign prompts): the building part, limited by ``direction.n_build_prompts``, builds
directions; the held-out part, limited by ``n_prompts``, is the split the evals score. No model is
needed, so tests check the sets directly. docs/design_decisions.md "Direction-building split".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from steerbench.prompts.holdout import SPLIT_RULE, ids_hash, split_for_direction
from steerbench.prompts.load import CORE_SPLITS, default_split_path, file_sha256, load_prompt_file
from steerbench.prompts.schema import PromptSet



@dataclass(frozen=True)
class StudyPrompts:
    scored: dict[str, PromptSet]  # core split -> what the evals score (harm_train: its held-out part)
    build: dict[str, PromptSet]  # "harm_train" and "benign" -> what builds (and selects) directions
    files: dict[str, dict[str, str]]  # core split -> {"path", "sha256"} of the file it was read from


def study_prompts(config, rootdir: Path) -> StudyPrompts:
    """Read the config's core prompt files and cut them into scored and direction-building parts.

    Args:
        config: a StudyConfig; a ``<split>_path`` left None means the project's or packaged default.
        rootdir: the project (the pytest rootdir), for those defaults.
    """
    paths = {name: Path(getattr(config, f"{name}_path", None) or default_split_path(name, rootdir))
             for name in CORE_SPLITS}
    loaded = {name: load_prompt_file(path, name=name) for name, path in paths.items()}
    # benign is cut for every method: the selection and the diff-in-means contrast read its building
    # half, and the positive control needs it whatever the grid's method (docs/design_decisions.md)
    cut = {name: split_for_direction(loaded[name]) for name in ("harm_train", "benign")}
    return StudyPrompts(
        scored={name: (cut[name].held_out if name in cut else loaded[name]).limit(config.n_prompts)
                for name in CORE_SPLITS},
        build={name: part.build.limit(config.direction.n_build_prompts) for name, part in cut.items()},
        files={name: {"path": str(path), "sha256": file_sha256(path)} for name, path in paths.items()},
    )


def build_record(build: dict[str, PromptSet]) -> dict:
    """Which prompts built the directions (direction provenance, run.json): counts and id / content hashes."""
    record: dict = {"build_split_rule": SPLIT_RULE}
    for name in ("harm_train", "benign"):
        part = build.get(name)
        prefix = "" if name == "harm_train" else "benign_"
        record[f"{prefix}prompts_hash"] = None if part is None else part.content_hash()
        record[f"{prefix}prompt_ids_hash"] = None if part is None else ids_hash(part)
        record[f"{prefix}n_build_prompts"] = 0 if part is None else len(part)
    return record
