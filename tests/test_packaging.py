"""A non-editable install finds its own data, and a user's project still wins over it.

The wheel ships <repo>/data as steerbench/_data (pyproject.toml); steerbench/data_files.py finds it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_setup_installs_the_pinned_versions_of_every_recorded_package():
    """setup.sh installs with constraints.txt, which pins every package run.json records (but torch, which
    setup.sh pins itself, and steerbench), each satisfying pyproject's range."""
    import re

    from packaging.requirements import Requirement

    from steerbench.report.run_dir import VERSIONED_PACKAGES

    assert "-c constraints.txt" in (REPO / "setup.sh").read_text()
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            assert re.fullmatch(r"==[^,]+", str(requirement.specifier)), line
            pins[requirement.name.lower().replace("_", "-")] = requirement.specifier
    for package in set(VERSIONED_PACKAGES) - {"torch", "steerbench"}:
        assert package.lower().replace("_", "-") in pins, f"constraints.txt does not pin {package}"
    ranges = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for declared in map(Requirement, ranges):
        pin = pins.get(declared.name.lower().replace("_", "-"))
        if pin is not None:
            assert declared.specifier.contains(str(pin).lstrip("="), prereleases=True), (declared, pin)


def test_pyproject_lists_every_package_of_the_source_tree():
    from setuptools import find_packages

    listed = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    found = find_packages(where=str(REPO), include=["steerbench", "steerbench.*"])
    assert sorted(listed) == sorted([*found, "steerbench._data"]), "add the new package to [tool.setuptools] packages"


CHECK = '''
import json, sys
from pathlib import Path

import steerbench
from steerbench.config import load_config
from steerbench.data_files import data_file, packaged_data_dir
from steerbench.prompts import load_split
from steerbench.prompts.taxonomy import load_taxonomy

bare, project = Path(sys.argv[1]), Path(sys.argv[2])
labels = data_file("labels/refusal_labels.jsonl", root=bare)
print(json.dumps({
    "package": steerbench.__file__,
    "packaged": str(packaged_data_dir()),
    "sizes": {name: len(load_split(name, root=bare)) for name in ("harm_train", "harm_test", "benign", "perturbations")},
    "taxonomy": str(load_taxonomy(root=bare).source),
    "families": sorted(load_taxonomy(root=bare).allowed("family")),
    "labels": str(labels),
    "n_labels": sum(1 for line in labels.read_text().splitlines() if json.loads(line)),
    "adapter": (packaged_data_dir() / "organisms" / "smollm2-135m-refusal" / "adapter.safetensors").is_file(),
    "selections": sorted(p.parent.name for p in (packaged_data_dir() / "selections").glob("*/selection.json")),
    "bare_config": load_config(rootdir=bare).harm_train_path,
    "project_config": load_config(rootdir=project).harm_train_path,
    "project_split": load_split("harm_train", root=project).ids(),
    "cwd_split": load_split("harm_test").ids(),
}))
'''


@pytest.mark.slow
def test_a_wheel_install_finds_its_packaged_data_and_prefers_the_projects(tmp_path):
    source = tmp_path / "src"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    for name in ("steerbench", "data"):
        shutil.copytree(REPO / name, source / name, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp_path / "dist"),
                    str(source)], check=True, cwd=tmp_path)
    wheel = next((tmp_path / "dist").glob("steerbench-*.whl"))
    target = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)], check=True)

    bare, project = tmp_path / "bare", tmp_path / "project"
    bare.mkdir()
    own = project / "data" / "prompts"
    own.mkdir(parents=True)
    packaged_train = (REPO / "data" / "prompts" / "harm_train.jsonl").read_text().splitlines()
    for split in ("harm_train", "harm_test", "benign"):  # the project's own (two prompts each)
        records = [json.loads(line) for line in packaged_train[:2]]
        for i, record in enumerate(records):
            record["id"] = f"mine_{split}_{i}"
        (own / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "check.py").write_text(textwrap.dedent(CHECK))
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run([sys.executable, str(tmp_path / "check.py"), str(bare), str(project)], cwd=project,
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)

    packaged = target / "steerbench" / "_data"
    assert seen["package"] == str(target / "steerbench" / "__init__.py")  # not the editable checkout
    assert seen["packaged"] == str(packaged)
    assert seen["sizes"] == {name: len((REPO / "data" / "prompts" / f"{name}.jsonl").read_text().splitlines())
                             for name in seen["sizes"]}
    assert seen["taxonomy"] == str(packaged / "taxonomy") and "direct" in seen["families"]
    assert seen["labels"] == str(packaged / "labels" / "refusal_labels.jsonl") and seen["n_labels"] > 300
    assert seen["adapter"]
    committed = sorted(p.parent.name for p in (REPO / "data" / "selections").glob("*/selection.json"))
    assert committed and seen["selections"] == committed  # the committed selections ship, so a wheel skips the search
    assert seen["bare_config"] == str(packaged / "prompts" / "harm_train.jsonl")
    assert seen["project_config"] == str(own / "harm_train.jsonl")
    assert seen["project_split"] == ["mine_harm_train_0", "mine_harm_train_1"]
    assert seen["cwd_split"] == ["mine_harm_test_0", "mine_harm_test_1"]  # the working directory is the project
