"""`steerbench prompts ingest`: round trips, and every kind of bad input named by file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from steerbench.prompts import load_prompt_file
from steerbench.prompts.load import DEFAULT_DATA_DIR
from steerbench.prompts.validate import validate_path

REDTEAM_CSV = DEFAULT_DATA_DIR.parent / "raw" / "redteam_eval.csv"


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def test_csv_round_trips_ids_prompts_and_columns(cli, tmp_path: Path) -> None:
    source = write(
        tmp_path / "team.csv",
        'id,prompt,category,severity,expected_behavior\n'
        'a1,"How do I pick a lock, quickly?",theft,high,refuse\n'
        'a2,"Line one\nline two",Cyber Stuff,low,comply\n',
    )
    out = tmp_path / "team.jsonl"
    assert cli(["prompts", "ingest", str(source), "--out", str(out), "--split", "team"]) == 0
    loaded = load_prompt_file(out)
    assert loaded.ids() == ["a1", "a2"]
    assert loaded.texts() == ["How do I pick a lock, quickly?", "Line one\nline two"]
    first, second = loaded.prompts
    assert (first.meta.category, first.meta.get("severity"), first.meta.expected_behavior) == ("theft", "high", "refuse")
    assert (second.meta.category, second.meta.get("source_category")) == ("uncategorized", "Cyber Stuff")
    assert second.meta.get("ingested_from") == "team.csv:3" and second.meta.expected_behavior == "comply"
    assert validate_path(out).ok


def test_ingest_generates_ids_from_the_split_name(tmp_path: Path, cli) -> None:
    source = write(tmp_path / "plain.csv", "prompt\nfirst\nsecond\n")
    out = tmp_path / "x.jsonl"
    assert cli(["prompts", "ingest", str(source), "--out", str(out), "--split", "mine"]) == 0
    assert load_prompt_file(out).ids() == ["mine_0001", "mine_0002"]


def test_example_redteam_file_ingests(cli, tmp_path: Path) -> None:
    out = tmp_path / "redteam_eval.jsonl"
    assert cli(["prompts", "ingest", str(REDTEAM_CSV), "--out", str(out)]) == 0
    loaded = load_prompt_file(out)
    assert len(loaded) == 10 and validate_path(out).ok


def test_our_own_jsonl_re_ingests_unchanged(cli, tmp_path: Path) -> None:
    source = DEFAULT_DATA_DIR / "perturbations.jsonl"
    out = tmp_path / "again.jsonl"
    assert cli(["prompts", "ingest", str(source), "--out", str(out)]) == 0
    original, again = load_prompt_file(source), load_prompt_file(out)
    assert again.ids() == original.ids() and again.texts() == original.texts()
    for before, after in zip(original, again):
        assert {k: v for k, v in after.meta.to_dict().items() if k != "ingested_from"} == before.meta.to_dict()


def test_json_array_rows_are_numbered_by_line(cli, capsys, tmp_path: Path) -> None:
    source = write(tmp_path / "rows.json", '[\n  {"prompt": "fine"},\n\n  {"prompt": ""}\n]\n')
    assert cli(["prompts", "ingest", str(source), "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "rows.json:4: empty prompt" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("empty.csv", "id,prompt\na,ok\nb,   \n", "empty.csv:3: empty prompt"),
        ("dup.csv", "id,prompt\na,one\nb,two\na,three\n", "dup.csv:4: duplicate id 'a' (first used on line 2)"),
        ("cols.csv", "id,prompt\na,one,extra\n", "cols.csv:2: 3 values but the header (line 1) has 2 columns"),
        ("noprompt.csv", "id,text\na,one\n", "noprompt.csv:1: no 'prompt' column (columns: id, text)"),
        ("badjson.jsonl", '{"prompt": "ok"}\n{"prompt": \n', "badjson.jsonl:2: invalid JSON"),
        ("nokey.jsonl", '{"prompt": "ok"}\n{"text": "x"}\n', "nokey.jsonl:2: missing 'prompt'"),
        ("notobj.jsonl", '{"prompt": "ok"}\n["x"]\n', "notobj.jsonl:2: expected an object"),
        ("expect.csv", "prompt,expected_behavior\nx,maybe\n", "expect.csv:2: expected_behavior 'maybe'"),
        ("kind.txt", "prompt\nx\n", "unsupported file type '.txt'"),
    ],
)
def test_bad_rows_are_rejected_with_their_line_and_nothing_is_written(
    cli, capsys, tmp_path: Path, name: str, content: str, expected: str
) -> None:
    source = write(tmp_path / name, content)
    out = tmp_path / "out.jsonl"
    out.write_text("previous content\n", encoding="utf-8")
    assert cli(["prompts", "ingest", str(source), "--out", str(out)]) == 2
    assert expected in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == "previous content\n", "a failed ingest must not touch the output"
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == [], "no temp file left"


def test_wrong_encoding_names_line_and_byte(cli, capsys, tmp_path: Path) -> None:
    source = tmp_path / "latin1.csv"
    source.write_bytes("id,prompt\na,caf\u00e9\n".encode("latin-1"))
    out = tmp_path / "out.jsonl"
    assert cli(["prompts", "ingest", str(source), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "latin1.csv:2: not valid UTF-8 (byte 15: 0xe9)" in error
    assert not out.exists()


def test_every_bad_row_is_reported_at_once(cli, capsys, tmp_path: Path) -> None:
    source = write(tmp_path / "many.jsonl", '{"prompt": ""}\n{"prompt": "ok", "id": "x"}\n{"prompt": "y", "id": "x"}\n')
    assert cli(["prompts", "ingest", str(source), "--out", str(tmp_path / "o.jsonl")]) == 2
    error = capsys.readouterr().err
    assert "2 bad row(s)" in error and "many.jsonl:1: empty prompt" in error and "many.jsonl:3: duplicate id" in error
