"""The notebooks: generated from notebooks/make_notebooks.py (no outputs, one parameters cell each), and
01_smoke (ci-sized) and 03_analysis (on the committed reference run) execute top to bottom."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
sys.path.insert(0, str(NOTEBOOKS))
from make_notebooks import NOTEBOOKS as SOURCES, render  # noqa: E402


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_the_committed_notebook_is_what_its_source_writes_with_no_outputs(name):
    assert (NOTEBOOKS / name).read_text() == render(name), "run: python notebooks/make_notebooks.py"
    cells = json.loads((NOTEBOOKS / name).read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code[0]["metadata"]["tags"] == ["parameters"]  # one params cell, first
    assert all(not c["outputs"] and c["execution_count"] is None for c in code)


def _execute(name: str, parameters: dict, tmp_path: Path):
    """Run a notebook top to bottom with ``parameters`` assigned after its parameters cell (as papermill
    injects them); returns the executed notebook."""
    import nbformat
    from nbclient import NotebookClient

    book = nbformat.reads((NOTEBOOKS / name).read_text(), as_version=4)
    cell = next(c for c in book.cells if "parameters" in c.metadata.get("tags", []))
    cell.source += "\n# injected by tests/test_notebooks.py\n" + "\n".join(f"{k} = {v!r}" for k, v in parameters.items())
    NotebookClient(book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    return book


def _text(book) -> str:
    out = []
    for cell in book.cells:
        for output in cell.get("outputs", []):
            out.append(output.get("text", "") + json.dumps(output.get("data", {}).get("text/plain", "")))
    return "\n".join(out)


@pytest.mark.slow
def test_the_smoke_notebook_runs_on_the_organism_at_ci_size(tmp_path):
    book = _execute("01_smoke.ipynb", {"N_PROMPTS": 3, "MAX_NEW_TOKENS": 6, "LAYER": 15, "N_EXAMPLES": 2,
                                       "CACHE_DIR": str(tmp_path / "cache")}, tmp_path)
    text = _text(book)
    assert "smollm2-135m-refusal: 30 layers; direction diff_in_means at layer 15" in text
    assert "difference (paired)" in text and "L15-add-a1" in text and "baseline (" in text
    assert "torch" in text and "cpu_capability" not in text  # the versions cell printed its dict


def _files(root: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_the_analysis_notebook_rerenders_a_real_run_into_a_copy(small_real_run, tmp_path):
    before = _files(small_real_run)
    book = _execute("03_analysis.ipynb", {"RUN_DIR": str(small_real_run), "OUT_DIR": str(tmp_path / "copy")}, tmp_path)
    text = _text(book)
    assert "completion rows" in text and "re-rendered into" in text
    assert (tmp_path / "copy" / "figures" / "tradeoff_refusal_vs_helpfulness.png").stat().st_mtime_ns > max(before.values())
    assert any(o.get("data", {}).get("image/png") for c in book.cells for o in c.get("outputs", []))
    assert before == _files(small_real_run)  # the run itself is not modified


def test_the_analysis_notebook_shows_a_committed_reference_without_results(tmp_path):
    before = _files(REPO / "reports" / "reference")
    book = _execute("03_analysis.ipynb", {"RUN_DIR": "reports/reference", "OUT_DIR": str(tmp_path / "copy")}, tmp_path)
    assert "a committed reference" in _text(book)
    assert before == _files(REPO / "reports" / "reference")
