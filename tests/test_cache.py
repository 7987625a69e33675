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
