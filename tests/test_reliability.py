"""Bad input and damaged files: one clear line (exit 2 for the CLI, a usage error for pytest), before
any model work, never a traceback and never silent acceptance (issue 14 section 3; docs/reliability.md).
The pytest plugin's own startup errors are tested with pytester in test_plugin.py."""

from __future__ import annotations

import json
import os
import re

import pandas as pd
import pytest

from steerbench.config import load_config
from steerbench.errors import ConfigError, SteerbenchError
from steerbench.gates import load_gates
from steerbench.model import pick_device


@pytest.mark.parametrize("flag, value, message", [
    ("alphas", "nan", "alpha nan is not a finite number"),
    ("alphas", "0,inf", "alpha inf is not a finite number"),
    ("alphas", "1,1", "1.0 is listed twice"),
    ("layers", "3,3", "3 is listed twice"),
    ("interventions", "add,add", "'add' is listed twice"),
    ("generation.max_new_tokens", "100000", "above the maximum 2048"),
    ("generation.temperature", "nan", "is not a number"),
])
def test_grid_and_generation_values_are_checked_at_startup(tmp_path, flag, value, message):
    with pytest.raises(ConfigError, match=message):
        load_config(rootdir=tmp_path, overrides={flag: value})


def test_a_results_or_cache_dir_that_cannot_be_a_directory_fails_at_startup(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    with pytest.raises(ConfigError, match=r"flag --results-dir: .*a_file is a file, not a directory"):
        load_config(rootdir=tmp_path, overrides={"results_dir": str(a_file)})
    with pytest.raises(ConfigError, match=r"a_file is a file, so .*sub cannot be created"):
        load_config(rootdir=tmp_path, overrides={"results_dir": str(a_file / "sub")})
    (tmp_path / "pyproject.toml").write_text(f'[tool.steerbench]\ncache_dir = "{a_file}"\n')
    with pytest.raises(ConfigError, match=r"pyproject.toml.*a_file is a file"):
        load_config(rootdir=tmp_path)
    (tmp_path / "pyproject.toml").unlink()
    assert load_config(rootdir=tmp_path, overrides={"results_dir": str(tmp_path / "new" / "dir")})  # created later


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_results_dir_fails_at_startup(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="is not writable"):
            load_config(rootdir=tmp_path, overrides={"results_dir": str(locked / "reports")})
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize("device, message", [
    ("tpu", "not a device string"),
    ("meta", "steerbench runs on cpu, cuda, mps"),
    ("cuda", "CUDA is not available"),
    ("cuda:7", "CUDA"),
])
def test_unknown_or_absent_devices_are_one_line(device, message):
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match=message):
        pick_device(device)
    assert pick_device("cpu") == "cpu" and pick_device(None) in ("cpu", "cuda")


def test_an_empty_gates_file_is_an_error_not_an_ungated_run(tmp_path):
    path = tmp_path / "gates.yaml"
    path.write_text("# nothing yet\n")
    with pytest.raises(ConfigError, match="the gates file is empty"):
        load_gates(path)


@pytest.mark.parametrize("argv, message", [
    (["direction", "build", "--layer", "abc"], "--layer abc: give a block index"),
    (["direction", "build", "--layer", "3", "--cache-dir", "{file}"], "--cache-dir .*a file, not a directory"),
    (["prompts", "make", "--out-dir", "{file}"], "--out-dir .*a file, not a directory"),
    (["prompts", "ingest", "{csv}", "--out", "{dir}"], "--out .*a directory; name the .jsonl file"),
    (["prompts", "ingest", "{csv}", "--out", "{dir}/missing/out.jsonl"], "the directory .*missing does not exist"),
    (["report", "{file}"], "a file, not a directory"),
    (["direction", "select", "--model", "{broken_model}"], r"config.json:1: not a readable JSON config"),
])
def test_cli_bad_paths_and_values_are_one_line_with_exit_2(cli, tmp_path, capsys, argv, message):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "in.csv").write_text("id,prompt\nx1,hello there\n")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{not json")
    places = {"file": tmp_path / "a_file", "csv": tmp_path / "in.csv", "dir": tmp_path, "broken_model": tmp_path / "model"}
    assert cli([arg.format(**places) for arg in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert re.search(message, err), err


def _damaged_run(tmp_path, damage: str):
    run = tmp_path / "run"
    run.mkdir()
    pd.DataFrame({"a": [1]}).to_parquet(run / "evals.parquet")
    pd.DataFrame({"a": []}).to_parquet(run / "results.parquet")
    (run / "run.json").write_text(json.dumps({"config": {}}))
    if damage == "parquet":
        (run / "results.parquet").write_bytes(b"PAR1 truncated")
    else:
        (run / "run.json").write_text('{"config": ')
    return run


@pytest.mark.parametrize("damage, message", [("parquet", "results.parquet: not a readable parquet file"),
                                             ("json", "run.json:1: not valid JSON")])
def test_report_on_a_damaged_run_is_one_line(cli, tmp_path, capsys, damage, message):
    assert cli(["report", str(_damaged_run(tmp_path, damage))]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_validate_reports_a_truncated_line_once_not_every_follow_on_check(cli, tmp_path, capsys):
    from steerbench.data_files import packaged_data_dir

    source = packaged_data_dir() / "prompts"
    for name in ("harm_train", "harm_test", "benign"):
        lines = (source / f"{name}.jsonl").read_text().splitlines(keepends=True)
        if name == "harm_test":
            lines[10] = lines[10][:40] + "\n"
        (tmp_path / f"{name}.jsonl").write_text("".join(lines))
    assert cli(["prompts", "validate", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    problems = [line for line in out.splitlines() if line.startswith(str(tmp_path)) and ": " in line
                and not line.endswith(" prompts")]
    assert problems[0].startswith(f"{tmp_path / 'harm_test.jsonl'}:11: invalid JSON")
    assert len(problems) == 2 and "wait until harm_test.jsonl can be read" in problems[1]


@pytest.mark.parametrize("rows, message", [
    ('[{"id": true, "prompt": "hello there"}]', "id true is a bool"),
    ('[{"id": 3.0, "prompt": "hello there"}]', "id 3.0 is a float"),
    ('[{"id": "x1", "prompt": "hello there", "parent_id": 2.0}]', "parent_id 2.0 is a float"),
    ('[{"id": "x1", "prompt": "hel\\u0000lo"}]', r"control character U\+0000"),
])
def test_ingest_coerces_nothing_and_rejects_control_characters(tmp_path, rows, message):
    from steerbench.prompts.ingest import ingest_file

    source = tmp_path / "in.json"
    source.write_text(rows)
    with pytest.raises(SteerbenchError, match=message):
        ingest_file(source, tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


def test_csv_ids_keep_their_text(tmp_path):
    from steerbench.prompts.ingest import ingest_file

    source = tmp_path / "in.csv"
    source.write_text("id,prompt\n3.0,hello there\ntrue,hi again\n")
    assert ingest_file(source, tmp_path / "out.jsonl").ids() == ["3.0", "true"]


def test_cache_verify_finds_a_damaged_entry_and_clear_removes_entries(cli, tmp_path, capsys, monkeypatch):
    from steerbench.cache import cached

    monkeypatch.setenv("STEERBENCH_HOME", str(tmp_path / "home"))
    root = tmp_path / "cache"
    for name in ("a", "b"):
        cached(root / "rows" / f"{name}.parquet", lambda tmp: tmp.write_text("rows " * 20))
    assert cli(["cache", "verify", "--cache-dir", str(root)]) == 0
    assert "2 entries" in capsys.readouterr().out
    (root / "rows" / "b.parquet").write_text("rows " * 19 + "rowz ")
    assert cli(["cache", "verify", "--cache-dir", str(root)]) == 1
    out = capsys.readouterr().out
    assert "1 damaged or unsealed" in out and "b.parquet: b.parquet does not match its content hash" in out
    assert cli(["cache", "clear", "--cache-dir", str(root), "--older-than", "1d"]) == 0  # all are newer
    assert (root / "rows" / "a.parquet").exists()
    assert cli(["cache", "clear", "--cache-dir", str(root)]) == 0
    assert not any(p.is_file() for p in root.rglob("*")) and "removed" in capsys.readouterr().out
    assert cli(["cache", "clear", "--cache-dir", str(root), "--older-than", "soon"]) == 2
    assert "--older-than soon" in capsys.readouterr().err
