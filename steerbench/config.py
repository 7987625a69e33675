"""The study's configuration: typed defaults, profiles, and the sources that override them.

Precedence, lowest first: built-in defaults < profile < ``[tool.steerbench]`` in the rootdir's
pyproject.toml < a YAML file (``--steer-config``) < command-line flags. The profile itself may be
chosen at any of those levels (the highest one wins). Every value from every source is validated,
and a bad one raises :class:`ConfigError` with one line naming where it came from and what to write.

Relative paths (``results_dir``, ``cache_dir``, ``gates``, the prompt files) from flags are resolved
against the directory pytest was invoked from; from pyproject or YAML, against the rootdir. The
loaded config holds absolute paths, so consumers never guess.

The study's three core prompt files: ``--prompts DIR`` (or ``data.prompts_dir``) names a directory
holding all three; ``data.harm_train_path``, ``data.harm_test_path``, ``data.benign_path`` name one
file each (within one source they win over the directory). Unset ones come from the project's
``<rootdir>/data/prompts/``, else from the package (steerbench.prompts.load.default_split_path).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from steerbench.errors import ConfigError, DataError
from steerbench.model import DEFAULT_MODEL
from steerbench.prompts.load import CORE_SPLITS, default_split_path

# The allowed values are the vocabulary's (steerbench/vocab.py), never copies.
from steerbench.vocab import (  # noqa: E402
    ALPHA_UNITS,
    ATTACKS,
    AUTO,
    CONFIG_DIRECTION_METHODS,
    CONFIG_DTYPES,
    DIRECTION_LAYER_MODES,
    DIRECTION_POSITIONS,
    HOOK_POINTS,
    INTERVENTIONS,
)
# core split -> the config key naming its prompt file
MAX_NEW_TOKENS = 2048  # more is no study of refusal openings, and hours of generation per cell on a CPU
PROMPT_PATH_KEYS = {split: f"{split}_path" for split in CORE_SPLITS}


@dataclass(frozen=True)
class GenerationConfig:
    max_new_tokens: int = 80
    temperature: float = 0.7  # 0 = greedy
    top_p: float = 0.9
    samples_per_prompt: int = 1
    # rows per forward pass: "auto" is 32 off CUDA (resolve_numerics) and sized from free memory on CUDA
    # (steerbench.device.batch_size_for); completions do not depend on it (common random numbers)
    batch_size: int | str = AUTO


@dataclass(frozen=True)
class DirectionConfig:
    # "auto": diff_in_means with the Arditi selection (layer "auto") for chat models that refuse,
    # contrastive_prefix over the layer grid otherwise (resolved by load_config; docs/design_decisions.md
    # "Default direction"). contrastive_prefix reads the model's own forced prefixes, so it partly encodes
    # those strings' tokens (docs/metrics.md "prefix_logodds").
    method: str = "auto"
    layer: str | None = "auto"  # "auto": the selected layer and position (steerbench.selection); None: the grid's layers
    position: str = "prefix_mean"  # where the contrast is read (DESIGN.md decision 4)
    hook_point: str = "resid_post"
    refusal_prefix: str = " I can't help with that."
    compliance_prefix: str = " Sure, here's how:"
    alt_refusal_prefix: str = " Sorry, I can't do that."  # prefix-robustness question
    alt_compliance_prefix: str = " Of course. Here's a step-by-step guide:"
    n_build_prompts: int | None = None  # prompts used to build the direction; None = all of harm_train


@dataclass(frozen=True)
class TamperingConfig:
    """The tampering question's grid (evals/test_tampering.py, docs/tampering.md): attacks x steps x seeds."""

    attacks: tuple[str, ...] = ("harmful_sft", "benign_sft", "identity_shift")
    steps: tuple[int, ...] = (0, 2, 4, 8, 16, 32, 64)  # a log grid; 0 is the untampered model
    seeds: tuple[int, ...] = (0,)  # attack seeds: LoRA init and batch order
    lr: float = 1e-3
    rank: int = 8
    batch_size: int = 8
    # prompts per split the checkpoints are evaluated on; None = the study's n_prompts. The ci profile's
    # 12 leave ~6 harm_test refuse prompts, too few for a gate to tell a working attack from a broken one.
    n_prompts: int | None = None
    # restoration: the untampered direction r0 added back (ActAdd at the selected layer) at these alphas;
    # the largest whose benign false refusal stays within the over-refusal budget is reported; () = not run
    restore_alphas: tuple[float, ...] = (1.0,)
    # direction persistence (cosine to r0 per layer, r0's AUROC) at every checkpoint; off in the ci profile
    persistence: bool = True
    # a user's own red-team prompt file (.csv / .jsonl / .json, the ingest format; `--tamper-eval`): every
    # checkpoint's refusal rate is also measured on its ``refuse`` prompts (split "tamper_eval")
    eval_path: str | None = None


@dataclass(frozen=True)
class StudyConfig:
    model: str = DEFAULT_MODEL  # the refusal organism (docs/design_decisions.md "Default model")
    # a cross-model run (``--models a,b,c``): the study once per model into one run directory; every model's
    # config (``load_configs``) has its own ``model`` and this same list. () = the one ``model``.
    models: tuple[str, ...] = ()
    device: str | None = None  # None = auto-detect
    dtype: str = AUTO  # "auto": bfloat16 on a CUDA GPU with native bf16, float16 on an older one, float32 on CPU/MPS
    layers: tuple[int | float, ...] = (0.25, 0.5, 0.75)  # ints, negative ints or depth fractions, as given
    alphas: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 4.0)
    interventions: tuple[str, ...] = ("add", "ablate")
    alpha_units: str = "natural"  # DESIGN.md decision 5
    n_prompts: int | None = 60  # per split; None = all
    seed: int = 0
    alt_seed: int = 42  # seed-robustness question
    rerun_subset: int = 30  # prompts re-generated with the alternative seed / prefixes
    # prompts per split (the first ones) the sanity checks generate on their own (pipeline.Study.rows_path
    # ``standalone``), so that `pytest evals -k sanity` takes minutes; None (or >= n_prompts): the whole split
    sanity_subset: int | None = 24
    robustness_alpha: float = 1.0
    profile: str = "fast"
    results_dir: str = "reports"
    gates: str | None = None  # gates YAML; None = data/gates/default.yaml under the rootdir if present
    # the core prompt files (absolute once loaded); None = <rootdir>/data/prompts/<split>.jsonl, else packaged
    harm_train_path: str | None = None
    harm_test_path: str | None = None
    benign_path: str | None = None
    cache_dir: str = ".steerbench_cache"  # $STEERBENCH_CACHE when no source sets it (default_cache_dir)
    use_cache: bool = True
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    direction: DirectionConfig = field(default_factory=DirectionConfig)
    tampering: TamperingConfig = field(default_factory=TamperingConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (tuples become lists): for run.json and cache keys."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def short_hash(self) -> str:
        """8 hex digits identifying this configuration (part of a run id)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:8]


# One source of truth for the profiles (dotted keys of _FIELDS). The lead retunes them from timings.
PROFILES: dict[str, dict[str, Any]] = {
    # minutes on 2 CPU cores with the default model
    "ci": {"n_prompts": 12, "generation.max_new_tokens": 24, "alphas": (0.0, 1.0), "interventions": ("add",),
           "layers": (0.5,), "rerun_subset": 8,
           "tampering.attacks": ("harmful_sft",), "tampering.steps": (0, 8), "tampering.n_prompts": 24,
           "tampering.restore_alphas": (), "tampering.persistence": False},
    # the seed's fast mode: well within an hour on 2 CPU cores
    # (alphas resolve the narrow working range of the default model: DESIGN.md "Known facts")
    "fast": {"n_prompts": 60, "generation.max_new_tokens": 32, "alphas": (0.0, 0.5, 1.0, 1.5),
             "layers": (0.25, 0.5, 0.75), "interventions": ("add", "ablate", "ablate_all")},
    # the seed's recommended 150/150/200 prompts and 80 tokens: meant for a GPU
    "full": {"n_prompts": None, "generation.max_new_tokens": 80, "alphas": (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0),
             "tampering.attacks": ("harmful_sft", "benign_sft", "identity_shift", "format_control", "harmful_sft_lr0",
                                   "harmful_sft_base"),
             "tampering.steps": (0, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024), "tampering.seeds": (0, 1),
             "tampering.restore_alphas": (0.5, 1.0, 1.5)},
}  # fmt: skip

# The pytest plugin's study flags, by the dotted key they set.
FLAGS = {
    "model": "--model", "models": "--models", "device": "--device", "dtype": "--dtype", "layers": "--layers",
    "alphas": "--alphas",
    "interventions": "--interventions", "n_prompts": "--n-prompts", "generation.max_new_tokens": "--max-new-tokens",
    "seed": "--seed", "profile": "--profile", "results_dir": "--results-dir", "gates": "--gates",
    "use_cache": "--no-cache", "prompts_dir": "--prompts", "direction.method": "--direction-method",
    "tampering.eval_path": "--tamper-eval",
}  # fmt: skip

# The seed's configs/default.yaml layout: section.key -> our dotted key.
SEED_LAYOUT = {
    "sweep.layers": "layers", "sweep.alphas": "alphas", "sweep.interventions": "interventions",
    "sweep.alpha_units": "alpha_units", "data.n_prompts": "n_prompts",
    "robustness.alt_refusal_prefix": "direction.alt_refusal_prefix",
    "robustness.alt_compliance_prefix": "direction.alt_compliance_prefix",
    "robustness.alt_seed": "alt_seed", "robustness.rerun_subset": "rerun_subset",
    "robustness.alpha": "robustness_alpha",
    "data.prompts_dir": "prompts_dir", "data.harm_train_path": "harm_train_path",
    "data.harm_test_path": "harm_test_path", "data.benign_path": "benign_path",
}  # fmt: skip
_SECTIONS = ("generation", "direction", "sweep", "data", "robustness", "tampering")
_PATH_KEYS = ("results_dir", "cache_dir", "gates", "tampering.eval_path")


class _Invalid(Exception):
    """A value failed validation; the caller prefixes where it came from."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int(minimum: int, optional: bool = False, maximum: int | None = None) -> Callable[[Any], int | None]:
    def check(value: Any) -> int | None:
        if optional and value is None:
            return None
        if not _is_int(value):
            raise _Invalid(f"{value!r} is not an integer")
        if value < minimum:
            raise _Invalid(f"{value} is below the minimum {minimum}")
        if maximum is not None and value > maximum:
            raise _Invalid(f"{value} is above the maximum {maximum}")
        return value

    return check


def _float(low: float, high: float = float("inf"), low_open: bool = False) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if not _is_number(value) or math.isnan(value):
            raise _Invalid(f"{value!r} is not a number")
        if value < low or value > high or (low_open and value == low):
            raise _Invalid(f"{value} is out of range")
        return float(value)

    return check


def _text(choices: tuple[str, ...] | None = None, optional: bool = False) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if optional and value is None:
            return None
        if not isinstance(value, str) or not value:
            raise _Invalid(f"{value!r} is not a non-empty string")
        if choices is not None and value not in choices:
            raise _Invalid(f"{value!r} is not one of {', '.join(choices)}")
        return value

    return check


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"{value!r} is not true/false")
    return value


def _list_of(check_item: Callable[[Any], Any]) -> Callable[[Any], tuple]:
    def check(value: Any) -> tuple:
        if not isinstance(value, (list, tuple)):
            raise _Invalid(f"{value!r} is not a list")
        if not value:
            raise _Invalid("the list is empty")
        items = tuple(check_item(item) for item in value)
        repeated = next((item for i, item in enumerate(items) if item in items[:i]), None)
        if repeated is not None:  # a repeated grid value would run (and count) the same cells twice
            raise _Invalid(f"{repeated!r} is listed twice")
        return items

    return check


def _layer(value: Any) -> int | float:
    if _is_int(value) or (isinstance(value, float) and 0.0 <= value < 1.0):
        return value  # any int: the engine checks it against the model's depth
    raise _Invalid(f"layer {value!r} is neither an integer index nor a depth fraction in [0, 1)")


def _alpha(value: Any) -> float:
    if not _is_number(value) or not math.isfinite(value):
        raise _Invalid(f"alpha {value!r} is not a finite number")
    if value < 0:
        raise _Invalid(f"alpha {value} is negative")
    return float(value)


def _steps(value: Any) -> tuple[int, ...]:
    steps = _list_of(_int(0))(value)
    if steps[0] != 0 or list(steps) != sorted(steps):
        raise _Invalid(f"{list(steps)} must start at 0 (the untampered model) and increase")
    return steps


# dotted key -> (validator, what a valid value looks like)
_FIELDS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "model": (_text(), "a model alias, hub id or local checkpoint directory, e.g. smollm2-135m"),
    "models": (_list_of(_text()), "a non-empty list of model aliases, e.g. smollm2-135m,smollm2-135m-refusal,gemma3-270m"),
    "device": (_text(optional=True), "a torch device such as cpu or cuda, or auto"),
    "dtype": (_text(CONFIG_DTYPES), f"one of {', '.join(CONFIG_DTYPES)} (auto: bfloat16 on a CUDA GPU that has it, "
                                    "float32 on CPU)"),
    "layers": (_list_of(_layer), "a non-empty list of layer indices (6, -1) or depth fractions in [0, 1) (0.5)"),
    "alphas": (_list_of(_alpha), "a non-empty list of numbers >= 0, such as 0, 0.5, 1"),
    "interventions": (_list_of(_text(INTERVENTIONS)), f"a non-empty list drawn from {', '.join(INTERVENTIONS)}"),
    "alpha_units": (_text(ALPHA_UNITS), f"one of {', '.join(ALPHA_UNITS)}"),
    "n_prompts": (_int(1, optional=True), "an integer >= 1 (prompts per split) or all"),
    "seed": (_int(0), "an integer >= 0"),
    "alt_seed": (_int(0), "an integer >= 0"),
    "rerun_subset": (_int(1), "an integer >= 1"),
    "sanity_subset": (_int(1, optional=True),
                      "an integer >= 1 (prompts per split of the sanity checks), or null for the whole split"),
    "robustness_alpha": (_float(0.0), "a number >= 0"),
    "profile": (_text(tuple(PROFILES)), f"one of {', '.join(PROFILES)}"),
    "results_dir": (_text(), "a directory path"),
    "gates": (_text(optional=True), "a gates YAML file such as data/gates/ci.yaml"),
    "cache_dir": (_text(), "a directory path"),
    "use_cache": (_bool, "true or false"),
    # prompts_dir only expands into the three *_path keys (_prompt_files); it is not a StudyConfig field
    "prompts_dir": (_text(), "a directory holding harm_train.jsonl, harm_test.jsonl and benign.jsonl"),
    "harm_train_path": (_text(optional=True), "a .jsonl prompt file (e.g. from `steerbench prompts ingest`), or null"),
    "harm_test_path": (_text(optional=True), "a .jsonl prompt file (e.g. from `steerbench prompts ingest`), or null"),
    "benign_path": (_text(optional=True), "a .jsonl prompt file (e.g. from `steerbench prompts ingest`), or null"),
    "generation.max_new_tokens": (_int(1, maximum=MAX_NEW_TOKENS),
                                  f"an integer from 1 to {MAX_NEW_TOKENS} (the study reads a completion's opening; "
                                  "the full profile uses 80)"),
    "generation.temperature": (_float(0.0), "a number >= 0 (0 = greedy)"),
    "generation.top_p": (_float(0.0, 1.0, low_open=True), "a number in (0, 1]"),
    "generation.samples_per_prompt": (_int(1), "an integer >= 1"),
    "generation.batch_size": (lambda v: v if v == AUTO else _int(1)(v),
                              "auto (32 on CPU, sized from free memory on CUDA) or an integer >= 1"),
    "direction.method": (_text(CONFIG_DIRECTION_METHODS), f"one of {', '.join(CONFIG_DIRECTION_METHODS)}"),
    "direction.layer": (_text(DIRECTION_LAYER_MODES, optional=True),
                        "auto (the Arditi selection picks the layer) or null (the layers of the grid)"),
    "direction.position": (_text(DIRECTION_POSITIONS), f"one of {', '.join(DIRECTION_POSITIONS)}"),
    "direction.hook_point": (_text(HOOK_POINTS), f"one of {', '.join(HOOK_POINTS)}"),
    "direction.refusal_prefix": (_text(), "a non-empty string"),
    "direction.compliance_prefix": (_text(), "a non-empty string"),
    "direction.alt_refusal_prefix": (_text(), "a non-empty string"),
    "direction.alt_compliance_prefix": (_text(), "a non-empty string"),
    "direction.n_build_prompts": (_int(1, optional=True), "an integer >= 1, or null for all"),
    "tampering.attacks": (_list_of(_text(ATTACKS)), f"a non-empty list drawn from {', '.join(ATTACKS)}"),
    "tampering.steps": (_steps, "an increasing list of attacker steps starting at 0, such as [0, 2, 4, 8, 16]"),
    "tampering.seeds": (_list_of(_int(0)), "a non-empty list of integers >= 0 (attack seeds)"),
    "tampering.lr": (_float(0.0), "a number >= 0 (the attacker's learning rate)"),
    "tampering.rank": (_int(1), "an integer >= 1 (the attack's LoRA rank)"),
    "tampering.batch_size": (_int(1), "an integer >= 1"),
    "tampering.n_prompts": (_int(1, optional=True), "an integer >= 1 (prompts per split), or null for the study's"),
    "tampering.restore_alphas": (lambda v: () if v in ([], ()) else _list_of(_alpha)(v),
                                 "a list of alphas >= 0 for adding the untampered direction back, or [] for none"),
    "tampering.persistence": (_bool, "true or false (direction persistence at every checkpoint)"),
    "tampering.eval_path": (_text(optional=True), "a red-team prompt file (.csv with id,prompt,... columns, .jsonl, .json)"),
}


def _parse_flag_text(key: str, text: str) -> Any:
    """Turn a flag's text into the typed value its key expects (validation comes later)."""
    if key in ("layers", "alphas", "interventions", "models"):
        items = [item.strip() for item in text.split(",") if item.strip()]
        return [item if key in ("interventions", "models") else _number(item) for item in items]
    if key in ("n_prompts",) and text.strip().lower() == "all":
        return None
    if key == "device" and text.strip().lower() == "auto":
        return None
    if key in ("n_prompts", "seed", "generation.max_new_tokens", "generation.batch_size"):
        return _number(text.strip())
    return text


def _number(text: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text  # left for the validator to reject with the usual message


# A setting as read from one source: dotted key -> (value, "where it came from").
Settings = dict[str, tuple[Any, str]]


def _flatten(data: dict, label: Callable[[str], str], where: str) -> Settings:
    """Flatten one source (flat or seed layout, nested sections) into dotted keys."""
    settings: Settings = {}
    for key, value in data.items():
        key = str(key)
        if key in _SECTIONS and not isinstance(value, dict):
            raise ConfigError(f"{label(key)}: expected a mapping of {key} settings (key: value)")
        if key in _SECTIONS:
            items = [(f"{key}.{sub}", sub_value) for sub, sub_value in value.items()]
        else:
            items = [(key, value)]
        for dotted, item_value in items:
            canonical = SEED_LAYOUT.get(dotted, dotted)
            if canonical not in _FIELDS:
                raise ConfigError(f"{label(dotted)}: unknown key; {_valid_keys_hint(dotted)}")
            if canonical in settings:
                raise ConfigError(f"{label(dotted)}: sets {canonical!r} a second time in {where}; keep one")
            settings[canonical] = (item_value, label(dotted))
    return settings


def _valid_keys_hint(dotted: str) -> str:
    section = dotted.split(".")[0] if "." in dotted else None
    if section is None:
        names = sorted({k.split(".")[0] for k in list(_FIELDS) + list(SEED_LAYOUT)})
    else:
        names = sorted(k.split(".", 1)[1] for k in list(_FIELDS) + list(SEED_LAYOUT) if k.startswith(section + "."))
    return f"valid keys{' in ' + repr(section) if section else ''}: {', '.join(names)}"


def _pyproject_settings(rootdir: Path) -> Settings:
    path = rootdir / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("steerbench", {})
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML ({error}); fix the file's syntax") from None
    return _flatten(table, lambda key: f"pyproject.toml [tool.steerbench] key '{key}'", "pyproject.toml")


def _yaml_settings(path: Path, shown: str) -> Settings:
    if not path.is_file():
        raise ConfigError(f"--steer-config {shown}: file not found; pass an existing YAML file such as configs/default.yaml")
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{shown}{line}: invalid YAML ({problem}); fix the syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{shown}:1: expected a mapping of settings (key: value) at the top level")
    lines = _key_lines(root)
    return _flatten(data, lambda key: f"{shown}:{lines.get(key, 1)} key '{key}'", shown)


def _key_lines(node: yaml.Node | None, prefix: str = "") -> dict[str, int]:
    """Dotted key -> 1-based line of that key in the YAML document."""
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            dotted = f"{prefix}{key_node.value}"
            lines[dotted] = key_node.start_mark.line + 1
            if not prefix:
                lines.update(_key_lines(value_node, dotted + "."))
    return lines


def _flag_settings(overrides: dict[str, Any]) -> Settings:
    settings: Settings = {}
    for key, value in overrides.items():
        if key not in _FIELDS:
            raise ConfigError(f"override {key!r}: unknown key; {_valid_keys_hint(key)}")
        where = f"flag {FLAGS[key]}" if key in FLAGS else f"override '{key}'"
        if isinstance(value, str):
            value = _parse_flag_text(key, value)
        settings[key] = (value, where)
    return settings


def _validated(settings: Settings) -> dict[str, Any]:
    values = {}
    for key, (value, where) in settings.items():
        check, expected = _FIELDS[key]
        try:
            values[key] = check(value)
        except _Invalid as problem:
            raise ConfigError(f"{where}: {problem}; expected {expected}") from None
    return values


def load_config(
    *,
    rootdir: Path,
    yaml_path: Path | None = None,
    overrides: dict[str, Any] | None = None,
    invocation_dir: Path | None = None,
) -> StudyConfig:
    """The study's config (the first model's, in a cross-model run: see ``load_configs``)."""
    return load_configs(rootdir=rootdir, yaml_path=yaml_path, overrides=overrides, invocation_dir=invocation_dir)[0]


def load_configs(
    *,
    rootdir: Path,
    yaml_path: Path | None = None,
    overrides: dict[str, Any] | None = None,
    invocation_dir: Path | None = None,
) -> tuple[StudyConfig, ...]:
    """Build the study's config from defaults, profile, pyproject, YAML and flags: one per model.

    A cross-model run (``models``) gets one config per listed model, in order, each with its own
    ``model`` and its direction resolved for that model (``resolve_direction``: "auto" means
    diff-in-means for a model that refuses, the contrastive direction otherwise); all other settings
    are shared. Without ``models``, one config.

    Args:
        rootdir: the project root (pytest's rootdir); its pyproject.toml is read.
        yaml_path: a YAML file in the flat or the seed layout (``--steer-config``), or None.
        overrides: dotted key -> value from flags; strings are parsed as flag text (``"0,0.5,1"``).
        invocation_dir: where relative flag paths point (default: rootdir).

    Raises:
        ConfigError: one line naming the source of the first invalid value and how to fix it.
    """
    rootdir = Path(rootdir)
    invocation_dir = Path(invocation_dir) if invocation_dir is not None else rootdir
    sources = [(rootdir, _pyproject_settings(rootdir))]  # (base of relative paths, settings)
    if yaml_path is not None:
        resolved = yaml_path if Path(yaml_path).is_absolute() else invocation_dir / yaml_path
        sources.append((rootdir, _yaml_settings(resolved, str(yaml_path))))
    sources.append((invocation_dir, _flag_settings(dict(overrides or {}))))
    # Every value is validated, so a bad one fails even when a later source overrides it.
    validated = [(base, _prompt_files(_validated(settings), settings, base)) for base, settings in sources]

    profile = StudyConfig.profile
    for _, values in validated:
        profile = values.get("profile", profile)
    merged: dict[str, Any] = {"profile": profile, **PROFILES[profile], "cache_dir": default_cache_dir()}
    explicit = {key for _, values in validated for key in values}
    for base, values in validated:
        for key, value in values.items():
            if key in _PATH_KEYS and value is not None and not Path(value).is_absolute():
                value = str(base / value)
            merged[key] = value
    models = tuple(merged.get("models", ()))
    flags = sources[-1][1]
    if models and "model" in flags and merged["model"] not in models:  # a config file's model yields to --models
        raise ConfigError(f"{flags['model'][1]}: model {merged['model']!r} is not one of the models "
                          f"{', '.join(models)}; pass either --model or --models")
    configs = tuple(resolve_numerics(resolve_direction(_build({**merged, "model": model}, rootdir), explicit))
                    for model in (models or (merged.get("model", StudyConfig.model),)))
    config = configs[0]
    if config.tampering.eval_path is not None:
        where = next(settings["tampering.eval_path"][1] for _, settings in reversed(sources)
                     if "tampering.eval_path" in settings)
        _check_tamper_eval(Path(config.tampering.eval_path), where)
    for key in ("results_dir", "cache_dir"):
        fallback = "cache_dir ($STEERBENCH_CACHE)" if key == "cache_dir" and os.environ.get("STEERBENCH_CACHE", "").strip() \
            else f"{key} (default)"
        where = next((settings[key][1] for _, settings in reversed(sources) if key in settings), fallback)
        _check_writable_directory(Path(getattr(config, key)), where)
    return configs


def _check_tamper_eval(path: Path, where: str) -> None:
    """The red-team file must exist and read as prompts now, not after the attacks have trained."""
    from steerbench.prompts.ingest import read_prompts

    if not path.is_file():
        raise ConfigError(f"{where}: {path} not found; give a .csv (id,prompt,category,expected_behavior,...), "
                          ".jsonl or .json prompt file such as data/raw/redteam_eval.csv")
    try:
        prompts = read_prompts(path, "tamper_eval")
    except DataError as error:
        raise ConfigError(f"{where}: {error}") from None
    if not any(p.meta.expected_behavior == "refuse" for p in prompts):
        raise ConfigError(f"{where}: {path} has no prompt with expected_behavior refuse; the tampering question "
                          "measures refusal on those")


def _check_writable_directory(path: Path, where: str) -> None:
    """Fail now, not after the model work, when ``path`` cannot become a directory we write to."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{where}: {path} is a file, not a directory; name a directory (it is created if missing)")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{where}: {existing} is a file, so {path} cannot be created; name a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{where}: {existing} is not writable, so nothing could be saved in {path}; "
                          "name a directory you can write to")


def default_cache_dir() -> str:
    """The study cache when no config source names one: ``$STEERBENCH_CACHE`` (e.g. a shared filesystem for
    several machines, or one cache for CI's tests and its gated run), else ``.steerbench_cache``."""
    return os.environ.get("STEERBENCH_CACHE", "").strip() or StudyConfig.cache_dir


def resolve_direction(config: "StudyConfig", explicit: set[str] = frozenset()) -> "StudyConfig":
    """Turn ``direction.method: auto`` into a method, and ``direction.layer`` into auto or the grid.

    auto -> diff_in_means with the selected layer for a registry model marked ``refuses`` (the refusal
    organism, instruct models), contrastive_prefix over ``layers`` for every other model. Layers set
    explicitly (``explicit`` holds the dotted keys some source set: pyproject, YAML, --layers) mean
    the grid, unless ``direction.layer`` is set as well. Idempotent.
    """
    from steerbench.model import MODEL_REGISTRY

    direction = config.direction
    method = direction.method
    if method == "auto":
        spec = MODEL_REGISTRY.get(config.model)
        method = "diff_in_means" if spec is not None and spec.refuses else "contrastive_prefix"
    layer = direction.layer
    if "direction.layer" not in explicit and ("layers" in explicit or method != "diff_in_means"):
        layer = None
    if layer == "auto" and method != "diff_in_means":
        raise ConfigError(f"direction.layer auto selects a diff-in-means direction (Arditi et al.); it cannot be used "
                          f"with direction.method {method}: set direction.layer to null or the method to diff_in_means")
    if (method, layer) == (direction.method, direction.layer):
        return config
    return dataclasses.replace(config, direction=dataclasses.replace(direction, method=method, layer=layer))


def resolve_numerics(config: "StudyConfig") -> "StudyConfig":
    """``dtype: auto`` as the dtype of the config's device (steerbench.device.resolve_dtype), and
    ``generation.batch_size: auto`` as 32 off CUDA; on CUDA it stays auto, each batch being sized from the
    free memory when it runs. A CPU config is then the config it always was (float32, batch 32): the same
    run.json and the same cache keys. Idempotent.

    Raises:
        ConfigError: the config's device is unknown or absent on this machine (steerbench.device.pick_device).
    """
    if AUTO not in (config.dtype, config.generation.batch_size):
        return config
    from steerbench.device import configured_batch_size, pick_device, resolve_dtype

    device = pick_device(config.device)
    generation = dataclasses.replace(config.generation,
                                     batch_size=configured_batch_size(config.generation.batch_size, device))
    return dataclasses.replace(config, dtype=resolve_dtype(config.dtype, device), generation=generation)


_MAKE_HINT = "(`steerbench prompts make --out-dir DIR` writes all three; `steerbench prompts ingest` converts your own)"


def _prompt_files(values: dict[str, Any], settings: Settings, base: Path) -> dict[str, Any]:
    """One source's prompt options as absolute paths of existing files.

    ``prompts_dir`` becomes the ``*_path`` keys this source does not set one by one, so the usual
    precedence applies per file: ``--prompts DIR`` overrides a pyproject ``data.benign_path``.
    """
    values = dict(values)
    directory = values.pop("prompts_dir", None)
    if directory is not None:
        where, directory = settings["prompts_dir"][1], base / directory
        if not directory.is_dir():
            raise ConfigError(f"{where}: {directory} is not a directory; pass a directory holding "
                              f"harm_train.jsonl, harm_test.jsonl and benign.jsonl {_MAKE_HINT}")
        for split, key in PROMPT_PATH_KEYS.items():
            if key not in values:
                path = directory / f"{split}.jsonl"
                if not path.is_file():
                    raise ConfigError(f"{where}: {directory} has no {split}.jsonl; the directory must hold "
                                      f"harm_train.jsonl, harm_test.jsonl and benign.jsonl {_MAKE_HINT}")
                values[key] = str(path)
    for key in PROMPT_PATH_KEYS.values():
        if key in settings and values.get(key) is not None:
            path = base / values[key]
            if not path.is_file():
                problem = "is a directory (name the .jsonl file, or use --prompts DIR)" if path.is_dir() else "not found"
                raise ConfigError(f"{settings[key][1]}: {path} {problem}; give an existing .jsonl prompt file "
                                  f"(`steerbench prompts ingest FILE --out OUT.jsonl` makes one from a CSV)")
            values[key] = str(path)
    return values


def _build(values: dict[str, Any], rootdir: Path) -> StudyConfig:
    sections: dict[str, dict[str, Any]] = {"": {}, "generation": {}, "direction": {}, "tampering": {}}
    for key, value in values.items():
        section, _, name = key.rpartition(".")
        sections[section][name] = tuple(value) if isinstance(value, list) else value
    top = sections[""]
    for key in ("results_dir", "cache_dir"):
        path = top.get(key, getattr(StudyConfig, key))
        top[key] = path if Path(path).is_absolute() else str(rootdir / path)
    if top.get("gates") is None and (rootdir / "data" / "gates" / "default.yaml").is_file():
        top["gates"] = str(rootdir / "data" / "gates" / "default.yaml")
    for split, key in PROMPT_PATH_KEYS.items():
        if top.get(key) is None:
            try:
                top[key] = str(default_split_path(split, rootdir))
            except DataError as error:
                raise ConfigError(str(error)) from None
    return StudyConfig(
        **top,
        generation=GenerationConfig(**sections["generation"]),
        direction=DirectionConfig(**sections["direction"]),
        tampering=TamperingConfig(**sections["tampering"]),
    )
