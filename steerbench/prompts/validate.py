"""`steerbench prompts validate`: every check the study's prompt data must pass.

On a directory (the study's prompt data): schema, unique ids across files, taxonomy values, slices
in their own files, parent links, sizes, per-family minimums, one paired control per harm_test
prompt, no template or prompt text shared by harm_train and harm_test, and the diagnostic slices'
minimums. On a single file (e.g. an ingested one): schema, ids, taxonomy values.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from steerbench.prompts.load import CORE_SPLITS, ParsedFile, parse_prompt_file
from steerbench.prompts.schema import Prompt, PromptSet
from steerbench.prompts.shift import ShiftReport, shift_report
from steerbench.prompts.taxonomy import EXTERNAL_FAMILY, Taxonomy, load_taxonomy

# minimums from the study design (issue 3); sizes are per file, families over the three core files
CORE_MIN_SIZES = {"harm_train": 150, "harm_test": 150, "benign": 200}
MIN_PER_FAMILY = 5
MIN_PER_DIAGNOSTIC_SLICE = 5
DIAGNOSTIC_SLICES = ("perturb_paraphrase", "perturb_tone", "perturb_order", "perturb_language", "distill_stress")
MIN_NON_ENGLISH_LANGUAGES = 2  # each with at least MIN_PER_DIAGNOSTIC_SLICE prompts


@dataclass(frozen=True)
class ValidationResult:
    problems: tuple[str, ...]  # one line each, "file:line: message" where a line applies
    file_counts: tuple[tuple[str, int], ...]  # (file, prompts read)
    shift: ShiftReport | None  # when harm_train and harm_test were both read

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_path(path: Path, taxonomy: Taxonomy | None = None) -> ValidationResult:
    """Validate a prompt directory (the whole study) or a single .jsonl file."""
    path = Path(path)
    taxonomy = taxonomy or load_taxonomy()
    if path.is_dir():
        parsed = [parse_prompt_file(file) for file in sorted(path.glob("*.jsonl"))]
        problems = _file_problems(parsed, taxonomy) + _study_problems(path, parsed, taxonomy)
    elif path.is_file():
        parsed = [parse_prompt_file(path)]
        problems = _file_problems(parsed, taxonomy)
    else:
        return ValidationResult((f"{path}: no such file or directory",), (), None)
    by_stem = {file.path.stem: file for file in parsed}
    shift = None
    if "harm_train" in by_stem and "harm_test" in by_stem:
        shift = shift_report(_as_set(by_stem["harm_train"]), _as_set(by_stem["harm_test"]))
    counts = tuple((str(file.path), len(file.prompts)) for file in parsed)
    return ValidationResult(tuple(problems), counts, shift)


def _as_set(parsed: ParsedFile) -> PromptSet:
    return PromptSet(parsed.path.stem, parsed.prompts)


def _records(parsed: list[ParsedFile]) -> list[tuple[str, Prompt]]:
    return [(file.location(index), prompt) for file in parsed for index, prompt in enumerate(file.prompts)]


def _file_problems(parsed: list[ParsedFile], taxonomy: Taxonomy) -> list[str]:
    """Per-record problems: parsing, taxonomy values, ids unique across files, required parents."""
    problems = [problem for file in parsed for problem in file.problems]
    first_location: dict[str, str] = {}
    for location, prompt in _records(parsed):
        problems += [f"{location}: {issue}" for issue in taxonomy.meta_problems(prompt.meta)]
        if prompt.id in first_location:
            problems.append(f"{location}: duplicate id {prompt.id!r} (first used at {first_location[prompt.id]})")
        first_location.setdefault(prompt.id, location)
        definition = taxonomy.slices.get(prompt.meta.slice)
        if definition is not None and definition.requires_parent and prompt.meta.parent_id is None:
            problems.append(f"{location}: slice {prompt.meta.slice!r} requires a parent_id")
    return problems


def _study_problems(directory: Path, parsed: list[ParsedFile], taxonomy: Taxonomy) -> list[str]:
    by_stem = {file.path.stem: file for file in parsed}
    missing = [name for name in CORE_SPLITS if name not in by_stem]
    problems = [
        f"{directory}: missing {name}.jsonl (regenerate with `steerbench prompts make --out-dir {directory}`)"
        for name in missing
    ]
    unreadable = [file.path.name for file in parsed if not file.prompts and file.problems]
    if unreadable:  # every check across files would report the unread file's prompts as missing
        return problems + [f"{directory}: the checks across files (parents, pairs, sizes, families, overlap) wait "
                           f"until {', '.join(unreadable)} can be read; fix the line named above"]
    problems += _parent_link_problems(parsed)
    problems += _duplicate_text_problems(parsed)
    problems += _slice_file_problems(parsed, taxonomy)
    problems += _diagnostic_slice_problems(directory, parsed)
    if missing:
        return problems
    problems += _size_problems(by_stem)
    problems += _family_problems(directory, [by_stem[name] for name in CORE_SPLITS], taxonomy)
    problems += _paired_control_problems(by_stem["harm_test"], by_stem["benign"])
    problems += _shared_with_train_problems(by_stem["harm_train"], by_stem["harm_test"])
    return problems


def _parent_link_problems(parsed: list[ParsedFile]) -> list[str]:
    ids = {prompt.id for _, prompt in _records(parsed)}
    return [
        f"{location}: parent_id {prompt.meta.parent_id!r} does not match any prompt id in the directory"
        for location, prompt in _records(parsed)
        if prompt.meta.parent_id is not None and prompt.meta.parent_id not in ids
    ]


def _duplicate_text_problems(parsed: list[ParsedFile]) -> list[str]:
    """The same text twice would be counted twice in every rate."""
    first_id: dict[str, str] = {}
    problems = []
    for location, prompt in _records(parsed):
        if prompt.prompt in first_id:
            problems.append(f"{location}: same prompt text as {first_id[prompt.prompt]}")
        first_id.setdefault(prompt.prompt, prompt.id)
    return problems


def _slice_file_problems(parsed: list[ParsedFile], taxonomy: Taxonomy) -> list[str]:
    """A slice defined for a named file must live in that file (e.g. core_test in harm_test.jsonl)."""
    defined_files = {definition.file for definition in taxonomy.slices.values() if definition.file.endswith(".jsonl")}
    problems = []
    for file in parsed:
        if file.path.name not in defined_files:
            continue
        for index, prompt in enumerate(file.prompts):
            definition = taxonomy.slices.get(prompt.meta.slice)
            if definition is not None and definition.file in defined_files and definition.file != file.path.name:
                problems.append(
                    f"{file.location(index)}: slice {prompt.meta.slice!r} belongs in {definition.file}, "
                    f"not {file.path.name}"
                )
    return problems


def _size_problems(by_stem: dict[str, ParsedFile]) -> list[str]:
    return [
        f"{by_stem[name].path}: {len(by_stem[name].prompts)} prompts, fewer than the minimum {minimum}"
        for name, minimum in CORE_MIN_SIZES.items()
        if len(by_stem[name].prompts) < minimum
    ]


def _family_problems(directory: Path, core: list[ParsedFile], taxonomy: Taxonomy) -> list[str]:
    counts = Counter(prompt.meta.family for file in core for prompt in file.prompts)
    return [
        f"{directory}: family {family!r} has {counts[family]} prompts in the core files "
        f"({', '.join(CORE_SPLITS)}), fewer than the minimum {MIN_PER_FAMILY}"
        for family in sorted(taxonomy.allowed("family") - {EXTERNAL_FAMILY})
        if counts[family] < MIN_PER_FAMILY
    ]


def _paired_control_problems(harm_test: ParsedFile, benign: ParsedFile) -> list[str]:
    test_ids = {prompt.id for prompt in harm_test.prompts}
    controlled: set[str] = set()
    problems = []
    for index, prompt in enumerate(benign.prompts):
        if prompt.meta.slice != "paired_control":
            continue
        controlled.add(str(prompt.meta.parent_id))
        if prompt.meta.parent_id not in test_ids:
            problems.append(
                f"{benign.location(index)}: paired control's parent_id {prompt.meta.parent_id!r} is not a harm_test id"
            )
    problems += [
        f"{harm_test.location(index)}: {prompt.id} has no paired control in {benign.path.name} "
        f"(slice 'paired_control' with parent_id {prompt.id!r})"
        for index, prompt in enumerate(harm_test.prompts)
        if prompt.id not in controlled
    ]
    return problems


def _shared_with_train_problems(harm_train: ParsedFile, harm_test: ParsedFile) -> list[str]:
    """The shift must be real: no template and no prompt text appears in both sets."""
    train_templates = {prompt.meta.get("template") for prompt in harm_train.prompts} - {None}
    train_ids_by_text = {prompt.prompt: prompt.id for prompt in harm_train.prompts}
    problems = []
    for index, prompt in enumerate(harm_test.prompts):
        template = prompt.meta.get("template")
        if template in train_templates:
            problems.append(f"{harm_test.location(index)}: template {template!r} is also used in harm_train")
        if prompt.prompt in train_ids_by_text:
            problems.append(
                f"{harm_test.location(index)}: same prompt text as {train_ids_by_text[prompt.prompt]} in harm_train"
            )
    return problems


def _diagnostic_slice_problems(directory: Path, parsed: list[ParsedFile]) -> list[str]:
    prompts = [prompt for _, prompt in _records(parsed)]
    slice_counts = Counter(prompt.meta.slice for prompt in prompts)
    problems = [
        f"{directory}: slice {name!r} has {slice_counts[name]} prompts, "
        f"fewer than the minimum {MIN_PER_DIAGNOSTIC_SLICE}"
        for name in DIAGNOSTIC_SLICES
        if slice_counts[name] < MIN_PER_DIAGNOSTIC_SLICE
    ]
    language_counts = Counter(
        prompt.meta.language
        for prompt in prompts
        if prompt.meta.slice == "perturb_language" and prompt.meta.language != "en"
    )
    covered = sorted(language for language, count in language_counts.items() if count >= MIN_PER_DIAGNOSTIC_SLICE)
    if len(covered) < MIN_NON_ENGLISH_LANGUAGES:
        problems.append(
            f"{directory}: perturb_language covers {len(covered)} non-English language(s) with at least "
            f"{MIN_PER_DIAGNOSTIC_SLICE} prompts ({', '.join(covered) or 'none'}); "
            f"the minimum is {MIN_NON_ENGLISH_LANGUAGES}"
        )
    return problems
