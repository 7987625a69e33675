"""Configuration: defaults, profiles, precedence of the sources, both YAML layouts, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from steerbench.config import PROFILES, StudyConfig, load_config
from steerbench.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_are_the_fast_profile(tmp_path):
    config = load_config(rootdir=tmp_path)
    assert config.profile == "fast" and config.model == "smollm2-135m-refusal"
    assert config.n_prompts == 60 and config.generation.max_new_tokens == PROFILES["fast"]["generation.max_new_tokens"]
    assert config.alphas == PROFILES["fast"]["alphas"] and config.layers == (0.25, 0.5, 0.75)
    assert config.generation.temperature == 0.7 and config.generation.top_p == 0.9
    assert config.direction.alt_refusal_prefix == " Sorry, I can't do that." and config.alt_seed == 42
    assert config.results_dir == str(tmp_path / "reports") and config.gates is None


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_profile_loads(tmp_path, profile):
    config = load_config(rootdir=tmp_path, overrides={"profile": profile})
    assert config.profile == profile
    assert config.n_prompts == PROFILES[profile]["n_prompts"]


def test_precedence_defaults_profile_pyproject_yaml_flags(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.steerbench]\nprofile = "ci"\nalphas = [0, 3]\nseed = 5\nmodel = "gpt2"\n')
    config = load_config(rootdir=tmp_path)
    assert config.profile == "ci" and config.n_prompts == 12  # the profile chosen in pyproject applies
    assert config.alphas == (0.0, 3.0) and config.seed == 5  # pyproject beats the profile

    yaml_file = write(tmp_path / "study.yaml", "alphas: [0, 2]\nseed: 7\n")
    config = load_config(rootdir=tmp_path, yaml_path=yaml_file)
    assert config.alphas == (0.0, 2.0) and config.seed == 7 and config.model == "gpt2"

    config = load_config(rootdir=tmp_path, yaml_path=yaml_file, overrides={"alphas": "0,1", "profile": "full"})
    assert config.alphas == (0.0, 1.0) and config.seed == 7  # flags beat YAML
    assert config.profile == "full" and config.n_prompts is None  # the flag's profile wins


def test_seed_layout_of_configs_default_yaml(tmp_path):
    config = load_config(rootdir=tmp_path, yaml_path=REPO / "configs" / "default.yaml")
    assert config.alphas == (0.0, 0.5, 1.0, 2.0, 4.0) and config.interventions == ("add", "ablate")
    assert config.layers == (0.25, 0.5, 0.75) and config.alpha_units == "natural"
    assert config.n_prompts == 60 and config.generation.max_new_tokens == 80
    assert config.direction.refusal_prefix == " I can't help with that."
    assert config.direction.alt_compliance_prefix == " Of course. Here's a step-by-step guide:"
    assert config.alt_seed == 42 and config.rerun_subset == 30


def test_flat_layout_with_nested_sections(tmp_path):
    yaml_file = write(tmp_path / "flat.yaml", "layers: [6, 15, -1]\ngeneration:\n  temperature: 0\ndirection:\n  hook_point: resid_pre\n")
    config = load_config(rootdir=tmp_path, yaml_path=yaml_file)
    assert config.layers == (6, 15, -1) and config.generation.temperature == 0.0
    assert config.direction.hook_point == "resid_pre"


def test_flag_text_parsing(tmp_path):
    flags = {"layers": "6,15,-1", "alphas": "0,0.5,1", "interventions": "ablate", "n_prompts": "all",
             "device": "auto", "seed": "3", "generation.max_new_tokens": "16", "use_cache": False}  # fmt: skip
    config = load_config(rootdir=tmp_path, overrides=flags)
    assert config.layers == (6, 15, -1) and all(isinstance(layer, int) for layer in config.layers)
    assert config.alphas == (0.0, 0.5, 1.0) and config.interventions == ("ablate",)
    assert config.n_prompts is None and config.device is None and config.seed == 3
    assert config.generation.max_new_tokens == 16 and config.use_cache is False
    assert load_config(rootdir=tmp_path, overrides={"layers": "0.25,0.5"}).layers == (0.25, 0.5)


def test_paths_resolve_and_default_gates_file(tmp_path):
    here = tmp_path / "sub"
    here.mkdir()
    write(tmp_path / "data" / "gates" / "default.yaml", "")
    config = load_config(rootdir=tmp_path, overrides={"results_dir": "out"}, invocation_dir=here)
    assert config.results_dir == str(here / "out")  # flags: relative to where pytest was invoked
    assert config.gates == str(tmp_path / "data" / "gates" / "default.yaml")
    write(tmp_path / "pyproject.toml", '[tool.steerbench]\ncache_dir = "cache"\n')
    assert load_config(rootdir=tmp_path, invocation_dir=here).cache_dir == str(tmp_path / "cache")


def test_to_dict_is_json_and_hash_tracks_the_config(tmp_path):
    config = load_config(rootdir=tmp_path)
    assert json.loads(json.dumps(config.to_dict()))["generation"]["max_new_tokens"] == PROFILES["fast"]["generation.max_new_tokens"]
    assert config.short_hash() == load_config(rootdir=tmp_path).short_hash()
    assert config.short_hash() != load_config(rootdir=tmp_path, overrides={"seed": "1"}).short_hash()
    assert isinstance(StudyConfig().to_dict()["layers"], list)


BAD_FLAGS = [
    ({"alphas": "0,-1"}, "flag --alphas", "negative"),
    ({"layers": "1.5"}, "flag --layers", "[0, 1)"),
    ({"interventions": "add,flip"}, "flag --interventions", "'flip'"),
    ({"profile": "slow"}, "flag --profile", "ci, fast, full"),
    ({"n_prompts": "0"}, "flag --n-prompts", "or all"),
    ({"generation.max_new_tokens": "0"}, "flag --max-new-tokens", "minimum 1"),
    ({"seed": "x"}, "flag --seed", "not an integer"),
    ({"alphas": ""}, "flag --alphas", "empty"),
]


@pytest.mark.parametrize(("flags", "source", "detail"), BAD_FLAGS)
def test_bad_flag_fails_in_one_line_naming_the_flag(tmp_path, flags, source, detail):
    with pytest.raises(ConfigError) as error:
        load_config(rootdir=tmp_path, overrides=flags)
    message = str(error.value)
    assert "\n" not in message and message.startswith(source) and detail in message and "expected" in message


BAD_YAML = [
    ("sweep:\n  alphas: []\n", "x.yaml:2 key 'sweep.alphas'", "empty"),
    ("seed: 1\ngeneration:\n  temperature: -1\n", "x.yaml:3 key 'generation.temperature'", ">= 0"),
    ("generation: {top_p: 1.5}\n", "x.yaml:1 key 'generation.top_p'", "(0, 1]"),
    ("sweep:\n  alfas: [1]\n", "x.yaml:2 key 'sweep.alfas'", "unknown key"),
    ("seed: zero\n", "x.yaml:1 key 'seed'", "not an integer"),
    ("layers: [6, 1.0]\n", "x.yaml:1 key 'layers'", "depth fraction"),
    ("alphas: [0, 1\nseed: 2\n", "x.yaml:", "invalid YAML"),
    ("- just\n- a list\n", "x.yaml:1", "mapping"),
    ("alphas: [1]\nsweep: {alphas: [2]}\n", "x.yaml:2 key 'sweep.alphas'", "second time"),
]


@pytest.mark.parametrize(("text", "source", "detail"), BAD_YAML)
def test_bad_yaml_fails_in_one_line_naming_file_line_and_key(tmp_path, monkeypatch, text, source, detail):
    write(tmp_path / "x.yaml", text)
    with pytest.raises(ConfigError) as error:
        load_config(rootdir=tmp_path, yaml_path=Path("x.yaml"), invocation_dir=tmp_path)
    message = str(error.value)
    assert "\n" not in message and message.startswith(source) and detail in message


@pytest.mark.parametrize(
    ("toml", "detail"),
    [("alphas = [-1]", "key 'alphas': alpha -1 is negative"), ("colour = 1", "key 'colour': unknown key")],
)
def test_bad_pyproject_value_names_the_table_and_key(tmp_path, toml, detail):
    write(tmp_path / "pyproject.toml", f"[tool.steerbench]\n{toml}\n")
    with pytest.raises(ConfigError) as error:
        load_config(rootdir=tmp_path, overrides={"alphas": "1"})  # overridden, still reported
    assert str(error.value).startswith("pyproject.toml [tool.steerbench]") and detail in str(error.value)


def test_missing_yaml_file(tmp_path):
    with pytest.raises(ConfigError, match=r"^--steer-config nope.yaml: file not found"):
        load_config(rootdir=tmp_path, yaml_path=Path("nope.yaml"))


def test_direction_auto_selects_diff_in_means_for_chat_models_that_refuse():
    organism = load_config(rootdir=REPO)
    assert (organism.direction.method, organism.direction.layer) == ("diff_in_means", "auto")
    raw = load_config(rootdir=REPO, overrides={"model": "smollm2-135m"})  # never refuses: the prefix grid
    assert (raw.direction.method, raw.direction.layer) == ("contrastive_prefix", None)
    gridded = load_config(rootdir=REPO, overrides={"layers": "0.5"})  # layers given: the grid, not the selection
    assert (gridded.direction.method, gridded.direction.layer) == ("diff_in_means", None)
    chosen = load_config(rootdir=REPO, overrides={"direction.method": "contrastive_prefix"})
    assert chosen.direction.layer is None
    with pytest.raises(ConfigError, match="direction.layer auto selects a diff-in-means direction"):
        load_config(rootdir=REPO, overrides={"direction.method": "contrastive_prefix", "direction.layer": "auto"})


def test_steerbench_cache_is_the_default_cache_dir_and_a_config_overrides_it(tmp_path, monkeypatch):
    shared = tmp_path / "shared-cache"
    monkeypatch.setenv("STEERBENCH_CACHE", str(shared))
    assert load_config(rootdir=tmp_path).cache_dir == str(shared)
    write(tmp_path / "pyproject.toml", '[tool.steerbench]\ncache_dir = "cache"\n')
    assert load_config(rootdir=tmp_path).cache_dir == str(tmp_path / "cache")
    monkeypatch.delenv("STEERBENCH_CACHE")
    (tmp_path / "pyproject.toml").unlink()
    assert load_config(rootdir=tmp_path).cache_dir == str(tmp_path / ".steerbench_cache")


def test_models_gives_one_config_per_model_with_its_own_direction(tmp_path):
    from steerbench.config import load_configs

    configs = load_configs(rootdir=tmp_path, overrides={"models": "smollm2-135m-refusal, smollm2-135m,gemma3-270m"})
    assert [c.model for c in configs] == ["smollm2-135m-refusal", "smollm2-135m", "gemma3-270m"]
    assert {c.models for c in configs} == {("smollm2-135m-refusal", "smollm2-135m", "gemma3-270m")}
    # "auto" resolves per model: the organism refuses (diff-in-means, selected layer), the others do not
    assert [(c.direction.method, c.direction.layer) for c in configs] == [
        ("diff_in_means", "auto"), ("contrastive_prefix", None), ("contrastive_prefix", None)]
    assert load_config(rootdir=tmp_path, overrides={"models": "gemma3-270m,smollm2-135m"}).model == "gemma3-270m"
    # only the model differs between them (and what it decides)
    assert {json.dumps({**c.to_dict(), "model": "", "direction": ""}, sort_keys=True) for c in configs}.__len__() == 1


def test_models_errors_name_the_flag(tmp_path):
    with pytest.raises(ConfigError, match=r"flag --models: 'a' is listed twice"):
        load_config(rootdir=tmp_path, overrides={"models": "a,b,a"})
    with pytest.raises(ConfigError, match=r"flag --model: model 'gpt2' is not one of the models a, b; pass either"):
        load_config(rootdir=tmp_path, overrides={"models": "a,b", "model": "gpt2"})
    write(tmp_path / "pyproject.toml", '[tool.steerbench]\nmodel = "gpt2"\n')  # a config file's model yields
    assert load_config(rootdir=tmp_path, overrides={"models": "a,b"}).model == "a"
