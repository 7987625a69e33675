"""The taxonomy: the allowed value of every enumerated meta field, read from data/taxonomy/.

data/taxonomy/prompt_taxonomy.json defines families, styles, categories, risk levels, expected
behaviours, attack patterns and languages; data/taxonomy/slice_definitions.json defines slices.
Generators, ingest and validate all read these files, so a new value is added in one place.
A project's own data/taxonomy/ (working directory) wins over the package's copy
(steerbench/data_files.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from steerbench.data_files import packaged_data_dir, project_data_dir
from steerbench.errors import DataError
from steerbench.prompts.schema import PromptMeta

# the package's own taxonomy (<checkout>/data/taxonomy, or steerbench/_data/taxonomy in a wheel)
DEFAULT_TAXONOMY_DIR = packaged_data_dir() / "taxonomy"
TAXONOMY_FILE = "prompt_taxonomy.json"
SLICES_FILE = "slice_definitions.json"

# meta field -> section of prompt_taxonomy.json listing its allowed values
FIELD_SECTIONS = {
    "family": "families",
    "style": "styles",
    "category": "categories",
    "risk_level": "risk_levels",
    "expected_behavior": "expected_behaviors",
    "attack_pattern": "attack_patterns",
    "language": "languages",
}
# the family given to ingested prompts; the only family the core sets need not contain
EXTERNAL_FAMILY = "external"


@dataclass(frozen=True)
class SliceDefinition:
    name: str
    file: str  # the prompt file the slice lives in
    what: str  # what the slice is
    built: str  # how it is built
    question: str  # which question it answers
    requires_parent: bool  # every prompt must carry a resolvable parent_id


@dataclass(frozen=True)
class Taxonomy:
    values: dict[str, dict[str, str]]  # meta field -> {allowed value: one-line definition}
    slices: dict[str, SliceDefinition]
    source: Path  # the taxonomy directory (named in error messages)

    def allowed(self, field: str) -> frozenset[str]:
        if field == "slice":
            return frozenset(self.slices)
        return frozenset(self.values[field])

    def meta_problems(self, meta: PromptMeta) -> list[str]:
        """One message per meta value that the taxonomy does not define."""
        problems = []
        for field in (*FIELD_SECTIONS, "slice"):
            value = getattr(meta, field)
            if value not in self.allowed(field):
                where = SLICES_FILE if field == "slice" else f"{TAXONOMY_FILE} '{FIELD_SECTIONS[field]}'"
                problems.append(f"meta.{field} {value!r} is not defined in {where}")
        return problems


def default_taxonomy_dir(root: Path | str | None = None) -> Path:
    """``<root>/data/taxonomy`` (root: the working directory) when it has the taxonomy file, else the package's."""
    own = project_data_dir(root) / "taxonomy"
    return own if (own / TAXONOMY_FILE).is_file() else DEFAULT_TAXONOMY_DIR


def load_taxonomy(taxonomy_dir: Path | None = None, *, root: Path | str | None = None) -> Taxonomy:
    """Read both taxonomy files; a missing section or malformed file is a DataError.

    Args:
        taxonomy_dir: the directory; defaults to `default_taxonomy_dir(root)`.
        root: the project directory (default: the working directory).
    """
    directory = Path(taxonomy_dir) if taxonomy_dir is not None else default_taxonomy_dir(root)
    sections = _read_json(directory / TAXONOMY_FILE)
    missing = [section for section in FIELD_SECTIONS.values() if not isinstance(sections.get(section), dict)]
    if missing:
        raise DataError(f"{directory / TAXONOMY_FILE}: missing section(s) {', '.join(missing)}")
    values = {field: dict(sections[section]) for field, section in FIELD_SECTIONS.items()}
    slices_path = directory / SLICES_FILE
    raw_slices = _read_json(slices_path).get("slices")
    if not isinstance(raw_slices, dict):
        raise DataError(f"{slices_path}: missing the 'slices' object")
    slices = {name: _slice_definition(slices_path, name, spec) for name, spec in raw_slices.items()}
    return Taxonomy(values=values, slices=slices, source=directory)


def _slice_definition(path: Path, name: str, spec: object) -> SliceDefinition:
    keys = ("file", "what", "built", "question", "requires_parent")
    if not isinstance(spec, dict) or any(key not in spec for key in keys):
        raise DataError(f"{path}: slice {name!r} needs the keys {', '.join(keys)}")
    return SliceDefinition(name=name, **{key: spec[key] for key in keys})


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: taxonomy file not found; pass --taxonomy-dir") from None
    except json.JSONDecodeError as error:
        raise DataError(f"{path}:{error.lineno}: invalid JSON ({error.msg})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object at the top level")
    return data
