"""`steerbench prompts validate`: exit 0 on the committed data, exit 1 with file:line on a broken copy."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from steerbench.prompts.load import DEFAULT_DATA_DIR


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "prompts"
    copy.mkdir()
    for path in DEFAULT_DATA_DIR.glob("*.jsonl"):
        shutil.copy(path, copy / path.name)
    return copy


def edit_line(path: Path, line_number: int, change: Callable[[dict], None]) -> None:
    lines = path.read_text(encoding="utf-8").split("\n")
    record = json.loads(lines[line_number - 1])
    change(record)
    lines[line_number - 1] = json.dumps(record, ensure_ascii=False)
    path.write_text("\n".join(lines), encoding="utf-8")


def test_committed_data_passes_and_prints_the_shift_report(cli, capsys) -> None:
    assert cli(["prompts", "validate", str(DEFAULT_DATA_DIR)]) == 0
    output = capsys.readouterr().out
    assert "Shift report: harm_train (150) vs harm_test (150)" in output
    assert "templates:     20 in train, 20 in test, 0 shared" in output
    assert output.rstrip().endswith("is valid")


def set_meta(key: str, value) -> Callable[[dict], None]:
    return lambda record: record["meta"].__setitem__(key, value)


@pytest.mark.parametrize(
    ("file", "line", "change", "expected"),
    [
        ("harm_train", 3, set_meta("family", "sneaky"), "harm_train.jsonl:3: meta.family 'sneaky' is not defined"),
        ("harm_test", 5, set_meta("language", "xx"), "harm_test.jsonl:5: meta.language 'xx' is not defined"),
        ("perturbations", 2, set_meta("parent_id", "nowhere"), "perturbations.jsonl:2: parent_id 'nowhere' does not match"),
        ("perturbations", 4, set_meta("parent_id", None), "perturbations.jsonl:4: slice 'perturb_paraphrase' requires a parent_id"),
        ("harm_test", 7, lambda r: r.__setitem__("id", "harm_train_0001"), "harm_train.jsonl:1: duplicate id 'harm_train_0001' (first used at "),
        ("harm_test", 9, set_meta("template", "train.direct.how_do_i"), "harm_test.jsonl:9: template 'train.direct.how_do_i' is also used"),
        ("harm_train", 1, set_meta("slice", "core_test"), "harm_train.jsonl:1: slice 'core_test' belongs in harm_test.jsonl"),
        ("harm_test", 2, lambda r: r.__setitem__("prompt", ""), "harm_test.jsonl:2: prompt must be a non-empty string"),
    ],
)
def test_a_broken_copy_exits_1_naming_file_and_line(cli, capsys, data_copy: Path, file, line, change, expected) -> None:
    edit_line(data_copy / f"{file}.jsonl", line, change)
    assert cli(["prompts", "validate", str(data_copy)]) == 1
    output = capsys.readouterr().out
    assert expected in output
    assert "problem(s) found" in output


def test_malformed_json_line_exits_1(cli, capsys, data_copy: Path) -> None:
    path = data_copy / "benign.jsonl"
    path.write_text(path.read_text(encoding="utf-8") + "{not json\n", encoding="utf-8")
    assert cli(["prompts", "validate", str(data_copy)]) == 1
    assert "benign.jsonl:201: invalid JSON" in capsys.readouterr().out


def test_missing_controls_sizes_and_files_are_problems(cli, capsys, data_copy: Path) -> None:
    benign = data_copy / "benign.jsonl"
    lines = benign.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if '"paired_control"' not in line]
    benign.write_text("".join(kept), encoding="utf-8")
    (data_copy / "distill_stress.jsonl").unlink()
    assert cli(["prompts", "validate", str(data_copy)]) == 1
    output = capsys.readouterr().out
    assert "has no paired control in benign.jsonl" in output
    assert f"benign.jsonl: {len(kept)} prompts, fewer than the minimum 200" in output
    assert "slice 'distill_stress' has 0 prompts" in output
    assert "family 'benign_control' has 0 prompts" in output


def test_a_missing_core_file_is_a_problem(cli, capsys, data_copy: Path) -> None:
    (data_copy / "harm_test.jsonl").unlink()
    assert cli(["prompts", "validate", str(data_copy)]) == 1
    assert "missing harm_test.jsonl" in capsys.readouterr().out


def test_a_single_file_is_checked_on_its_own(cli, capsys, data_copy: Path) -> None:
    assert cli(["prompts", "validate", str(data_copy / "harm_train.jsonl")]) == 0
    assert cli(["prompts", "validate", str(data_copy / "nothing_here")]) == 1
    assert "no such file or directory" in capsys.readouterr().out
