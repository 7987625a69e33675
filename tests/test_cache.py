"""The cache's one write protocol and its keys: every request field enters the key; an entry is
computed once, and a compute that fails leaves nothing that looks complete."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from steerbench.cache import cached, request_key
from steerbench.pipeline import DirectionRequest, IdentityRequest, RowsRequest

EXAMPLES = {
    DirectionRequest: DirectionRequest("fp", 3, "contrastive_prefix", "prefix_mean", "resid_post", " no", " yes", "h", None),
    RowsRequest: RowsRequest("fp", "h", "harm_test", {"layer": 3}, "main", 0, "natural", None, {"t": 0.7},
                             (" no", " yes"), (("I cannot",), ("Certainly",)), "2"),
    IdentityRequest: IdentityRequest("fp", "h", "L3-add-a0", 0, {"t": 0.7}, "u"),
}


@pytest.mark.parametrize("kind", list(EXAMPLES), ids=lambda k: k.__name__)
def test_every_field_of_a_request_changes_its_key(kind):
    request = EXAMPLES[kind]
    base = request_key(request)
    for field in dataclasses.fields(request):
        value = getattr(request, field.name)
        if value is None:
            other = "now set"
        elif isinstance(value, str):
            other = value + "x"
        elif isinstance(value, int):
            other = value + 1
        else:
            other = ("changed",)
        assert request_key(dataclasses.replace(request, **{field.name: other})) != base, field.name
    with pytest.raises(TypeError):
        request_key({"not": "a request"})


def test_an_entry_is_computed_once_across_threads_and_a_failed_compute_leaves_nothing(tmp_path):
    calls = []

    def compute(tmp):
        calls.append(1)
        tmp.write_text("done")

    path = tmp_path / "entry.txt"
    threads = [threading.Thread(target=cached, args=(path, compute)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and path.read_text() == "done"

    broken = tmp_path / "broken.txt"

    def fail(tmp):
        tmp.write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        cached(broken, fail)
    assert not broken.exists() and not list(tmp_path.glob(".broken*"))


@pytest.mark.parametrize("damage", ["truncated", "bit_flip", "swapped", "manifest_missing", "manifest_garbage",
                                    "file_missing"])
def test_a_damaged_entry_is_reported_set_aside_and_recomputed_never_used(tmp_path, damage, monkeypatch):
    from steerbench.cache import DAMAGED_SUFFIX, manifest_of

    calls = []

    def compute(tmp, text="rows of a cell " * 50):
        calls.append(1)
        tmp.write_text(text)

    entry = tmp_path / "entry.parquet"
    cached(entry, compute)
    good = entry.read_text()
    other = tmp_path / "other.parquet"
    cached(other, lambda tmp: compute(tmp, "another entry " * 50))
    if damage == "truncated":
        entry.write_text(good[:20])
    elif damage == "bit_flip":
        entry.write_bytes(bytes([good.encode()[0] ^ 1]) + good.encode()[1:])
    elif damage == "swapped":
        entry.write_bytes(other.read_bytes())  # a whole, readable file: only the hash tells
    elif damage == "manifest_missing":
        manifest_of(entry).unlink()
    elif damage == "manifest_garbage":
        manifest_of(entry).write_text("{not json")
    else:
        entry.unlink()
    lines = []
    monkeypatch.setattr("steerbench.progress.report", lines.append)  # the live progress line
    assert cached(entry, compute) == entry and len(calls) == 3  # recomputed
    assert entry.read_text() == good
    if damage != "file_missing":  # a missing entry is simply not there yet
        assert len(lines) == 1 and f"cache entry {entry} is damaged" in lines[0] and "recomputed" in lines[0]
        assert (tmp_path / f".entry.parquet{DAMAGED_SUFFIX}").exists() or damage.startswith("manifest")
    cached(entry, compute)
    assert len(calls) == 3  # sound again: read, not recomputed


def test_a_group_entry_is_sealed_by_its_files_and_verified_as_a_whole(tmp_path):
    from steerbench.cache import seal

    marker, data = tmp_path / "d.json", tmp_path / "d.safetensors"
    calls = []

    def compute(_):
        calls.append(1)
        data.write_bytes(b"tensor bytes")
        marker.write_text("{}")

    cached(tmp_path / "d", compute, done=marker, files=lambda: [marker, data])
    cached(tmp_path / "d", compute, done=marker, files=lambda: [marker, data])
    assert len(calls) == 1
    data.write_bytes(b"tensor bytez")  # the data file, not the marker, is damaged
    cached(tmp_path / "d", compute, done=marker, files=lambda: [marker, data])
    assert len(calls) == 2 and data.read_bytes() == b"tensor bytes"
    seal(marker, [marker, data])  # idempotent


def test_a_damaged_converted_checkpoint_is_detected_by_hash(tmp_path):
    from steerbench.checkpoints import completeness_problem, mark_complete

    (tmp_path / "model.safetensors").write_bytes(b"weights" * 100)
    (tmp_path / "config.json").write_text("{}")
    mark_complete(tmp_path, {"source": "x"})
    assert completeness_problem(tmp_path) is None
    (tmp_path / "model.safetensors").write_bytes(b"weightz" * 100)  # same size, other bytes
    assert "does not match its recorded SHA-256" in completeness_problem(tmp_path)


def test_the_conversion_writes_no_session_setting_into_the_model_identity(tmp_path):
    """tokenizer_config.json's local_files_only (true under HF_HUB_OFFLINE) must not reach the fingerprint."""
    import json

    from steerbench.checkpoints import _normalize_tokenizer_config

    offline, online = tmp_path / "offline.json", tmp_path / "online.json"
    offline.write_text(json.dumps({"local_files_only": True, "model_max_length": 8192}, indent=2) + "\n")
    online.write_text(json.dumps({"local_files_only": False, "model_max_length": 8192}, indent=2) + "\n")
    before = online.read_bytes()
    _normalize_tokenizer_config(offline)
    _normalize_tokenizer_config(online)
    assert offline.read_bytes() == online.read_bytes() == before
