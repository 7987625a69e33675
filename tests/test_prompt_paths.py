"""Which prompt files the study reads: the user's project, --prompts / data.*_path, else the package's.

No model is loaded: the config resolves the paths and ``study_prompts`` (what open_study uses)
turns them into the scored splits.
"""

from __future__ import annotations

import importlib.metadata
import json
import textwrap
from pathlib import Path

import pytest

from steerbench.config import load_config
from steerbench.errors import ConfigError, DataError
from steerbench.prompts.study import study_prompts
from steerbench.prompts.load import CORE_SPLITS, DEFAULT_DATA_DIR, check_prompt_file, file_sha256, load_split

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]


def prompt_record(prompt_id: str, text: str, family: str = "direct", behavior: str = "refuse", style: str = "plain") -> dict:
    meta = {"family": family, "style": style, "category": "other", "risk_level": "high", "expected_behavior": behavior,
            "slice": "core_train", "attack_pattern": "none", "language": "en", "parent_id": None}
    return {"id": prompt_id, "prompt": text, "meta": meta}


def write_prompts(directory: Path, sizes: dict[str, int] | None = None, tag: str = "own") -> Path:
    """Small valid core files: ids ``<tag>_<split>_<i>``, two families each."""
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in (sizes or {"harm_train": 6, "harm_test": 3, "benign": 3}).items():
        records = [prompt_record(f"{tag}_{split}_{i}", f"{tag} {split} request number {i}", family=f"f{i % 2}")
                   for i in range(n)]
        (directory / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return directory


def test_a_project_without_prompt_files_reads_the_packaged_sets(tmp_path):
    config = load_config(rootdir=tmp_path)
    assert config.harm_train_path == str(DEFAULT_DATA_DIR / "harm_train.jsonl")
    assert all(Path(getattr(config, f"{split}_path")).is_file() for split in CORE_SPLITS)


def test_the_projects_data_prompts_wins_over_the_packaged_sets(tmp_path):
    write_prompts(tmp_path / "data" / "prompts")
    config = load_config(rootdir=tmp_path)
    for split in CORE_SPLITS:
        assert getattr(config, f"{split}_path") == str(tmp_path / "data" / "prompts" / f"{split}.jsonl")
    prompts = study_prompts(config, tmp_path)
    assert prompts.scored["harm_test"].ids() == ["own_harm_test_0", "own_harm_test_1", "own_harm_test_2"]
    assert prompts.files["benign"]["sha256"] == file_sha256(tmp_path / "data" / "prompts" / "benign.jsonl")
    assert load_split("harm_test", root=tmp_path).ids() == prompts.scored["harm_test"].ids()  # the library agrees


def test_a_project_with_only_some_core_files_is_an_error_not_a_mix(tmp_path):
    write_prompts(tmp_path / "data" / "prompts", {"harm_train": 4, "harm_test": 2})
    with pytest.raises(ConfigError) as error:
        load_config(rootdir=tmp_path)
    message = str(error.value)
    assert "\n" not in message and "benign.jsonl: not found" in message and "--prompts DIR" in message


def test_prompts_flag_resolves_against_the_invocation_dir_and_names_every_file(tmp_path):
    here = tmp_path / "elsewhere"
    write_prompts(here / "mine", tag="flag")
    config = load_config(rootdir=tmp_path, overrides={"prompts_dir": "mine"}, invocation_dir=here)
    assert config.harm_train_path == str(here / "mine" / "harm_train.jsonl")
    assert config.benign_path == str(here / "mine" / "benign.jsonl")


def test_yaml_and_pyproject_paths_resolve_against_the_rootdir_and_flags_win(tmp_path):
    write_prompts(tmp_path / "sets", tag="yaml")
    write_prompts(tmp_path / "flagged", tag="flag")
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "x.yaml").write_text("data:\n  n_prompts: 2\n  harm_test_path: sets/harm_test.jsonl\n")
    (tmp_path / "pyproject.toml").write_text('[tool.steerbench]\nbenign_path = "sets/benign.jsonl"\n')
    config = load_config(rootdir=tmp_path, yaml_path=Path("configs/x.yaml"), invocation_dir=tmp_path)
    assert config.harm_test_path == str(tmp_path / "sets" / "harm_test.jsonl")  # not configs/sets/...
    assert config.benign_path == str(tmp_path / "sets" / "benign.jsonl")
    assert config.harm_train_path == str(DEFAULT_DATA_DIR / "harm_train.jsonl") and config.n_prompts == 2
    flagged = load_config(rootdir=tmp_path, yaml_path=Path("configs/x.yaml"), invocation_dir=tmp_path,
                          overrides={"prompts_dir": "flagged"})
    assert [getattr(flagged, f"{split}_path") for split in CORE_SPLITS] == [
        str(tmp_path / "flagged" / f"{split}.jsonl") for split in CORE_SPLITS]


def test_one_file_per_split_beats_the_directory_of_the_same_source(tmp_path):
    write_prompts(tmp_path / "dir")
    write_prompts(tmp_path / "one", {"harm_test": 2}, tag="one")
    (tmp_path / "x.yaml").write_text("prompts_dir: dir\nharm_test_path: one/harm_test.jsonl\n")
    config = load_config(rootdir=tmp_path, yaml_path=Path("x.yaml"), invocation_dir=tmp_path)
    assert config.harm_test_path == str(tmp_path / "one" / "harm_test.jsonl")
    assert config.harm_train_path == str(tmp_path / "dir" / "harm_train.jsonl")


BAD_PATHS = [
    ({"prompts_dir": "nope"}, "", "flag --prompts: ", "is not a directory"),
    ({"prompts_dir": "half"}, "", "flag --prompts: ", "has no benign.jsonl"),
    ({}, "data:\n  harm_test_path: missing.jsonl\n", "x.yaml:2 key 'data.harm_test_path': ", "missing.jsonl not found"),
    ({}, "data: {benign_path: half}\n", "x.yaml:1 key 'data.benign_path': ", "is a directory"),
]


@pytest.mark.parametrize(("flags", "yaml_text", "source", "detail"), BAD_PATHS)
def test_a_bad_prompt_path_fails_in_one_line_naming_its_source(tmp_path, flags, yaml_text, source, detail):
    write_prompts(tmp_path / "half", {"harm_train": 2, "harm_test": 2})
    (tmp_path / "x.yaml").write_text(yaml_text)
    with pytest.raises(ConfigError) as error:
        load_config(rootdir=tmp_path, yaml_path=Path("x.yaml"), overrides=flags, invocation_dir=tmp_path)
    message = str(error.value)
    assert "\n" not in message and message.startswith(source) and detail in message and "steerbench prompts" in message


def test_a_schema_error_is_one_line_naming_file_and_line(tmp_path):
    path = write_prompts(tmp_path, {"harm_test": 2}) / "harm_test.jsonl"
    path.write_text(path.read_text() + '{"id": "x", "prompt": "no meta"}\n{"id": "y"}\n')
    with pytest.raises(DataError) as error:
        check_prompt_file(path, "harm_test")
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{path}:3: missing key 'meta'")
    assert "more problem(s)" in message and "steerbench prompts validate" in message and "data.harm_test_path" in message


def test_an_ingested_red_team_file_becomes_the_shifted_split(tmp_path, cli):
    out = tmp_path / "redteam_eval.jsonl"
    assert cli(["prompts", "ingest", str(REPO / "data" / "raw" / "redteam_eval.csv"), "--out", str(out)]) == 0
    config = load_config(rootdir=tmp_path, overrides={"harm_test_path": str(out), "n_prompts": "all"})
    prompts = study_prompts(config, tmp_path)
    ingested = load_split("redteam_eval", data_dir=tmp_path)
    assert prompts.scored["harm_test"].ids() == ingested.ids() and prompts.files["harm_test"]["path"] == str(out)
    assert len(prompts.scored["harm_train"]) == len(load_split("harm_train", data_dir=DEFAULT_DATA_DIR)) // 2  # held-out half


# ---- the pytest plugin ------------------------------------------------------------------------

INNER = '''
from pathlib import Path

from steerbench.pipeline import open_study


def test_splits_come_from_the_project(steer_config, pytestconfig):
    study = open_study(steer_config, rootdir=Path(str(pytestconfig.rootpath)), model=object())
    assert steer_config.harm_test_path == str(pytestconfig.rootpath / "data" / "prompts" / "harm_test.jsonl")
    assert study.splits["harm_test"].ids() == ["own_harm_test_0", "own_harm_test_1", "own_harm_test_2"]
    scored = set(study.splits["harm_train"].ids())
    built = set(study.build_sets["harm_train"].ids())
    assert scored and built and not scored & built
    assert scored | built == {f"own_harm_train_{i}" for i in range(6)}
    assert study.prompt_files["benign"]["path"].endswith("data/prompts/benign.jsonl")
'''


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyprojecttoml("[tool.steerbench]\nprofile = 'ci'\n")
    write_prompts(pytester.path / "data" / "prompts")
    pytester.makepyfile(test_inner=textwrap.dedent(INNER))
    return pytester


def _run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    # load the plugin by name unless the installed entry point already does (as tests/test_plugin.py)
    installed = any(ep.value == "steerbench.pytest_plugin" for ep in importlib.metadata.entry_points(group="pytest11"))
    return project.runpytest(*(() if installed else ("-p", "steerbench.pytest_plugin")), "-p", "no:cacheprovider", *args)


def test_plugin_reads_the_projects_own_prompt_files(project):
    _run(project, "test_inner.py").assert_outcomes(passed=1)


def test_plugin_bad_prompts_dir_is_a_one_line_usage_error(project):
    result = _run(project, "test_inner.py", "--prompts", "missing_dir")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("ERROR: steerbench: flag --prompts: ")
    assert f"{project.path / 'missing_dir'} is not a directory" in errors[0]


def test_plugin_schema_error_is_a_one_line_usage_error_naming_file_and_line(project):
    path = project.path / "data" / "prompts" / "benign.jsonl"
    path.write_text(path.read_text() + "{not json\n")
    result = _run(project, "test_inner.py")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1 and errors[0].startswith(f"ERROR: steerbench: {path}:4: invalid JSON")
