"""Where steerbench's data files are: the user's project first, then the copy the package ships.

Git holds one copy of the data, ``<repo>/data/`` (prompt sets, taxonomy, labels, gates, the
committed organism adapter). A wheel ships it as ``steerbench/_data/``: pyproject.toml maps the
package ``steerbench._data`` onto ``data/``, so nothing is duplicated in the repository. A source
checkout or an editable install has no ``steerbench/_data`` and reads ``<checkout>/data``.

A project's own ``data/`` (the pytest rootdir for the study, the working directory for the command
line) wins over that packaged copy. Never locate data relative to this file's parents directly:
an editable install would then read the checkout it was installed from, whichever project runs.
docs/design_decisions.md "Data files: the project's, else the package's".
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

PACKAGED_NAME = "_data"  # steerbench/_data inside an installed wheel


def packaged_data_dir() -> Path:
    """The package's own data: ``steerbench/_data`` when installed from a wheel, else ``<checkout>/data``."""
    # a wheel is installed unzipped, so the resource is a real directory
    shipped = Path(str(importlib.resources.files("steerbench").joinpath(PACKAGED_NAME)))
    if shipped.is_dir():
        return shipped
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "data").is_dir():
        return checkout / "data"
    return shipped  # absent: callers name this path in their "not found" errors


def project_data_dir(root: Path | str | None = None) -> Path:
    """``<root>/data``; ``root`` defaults to the working directory."""
    return Path(root if root is not None else Path.cwd()) / "data"


def data_file(relative: str | Path, root: Path | str | None = None) -> Path:
    """``<root>/data/<relative>`` when the project has it, else the packaged copy of it.

    For single files such as ``labels/refusal_labels.jsonl``. Sets of files that belong together
    (the three core prompt files, the two taxonomy files) are resolved as a directory by their
    loaders, so a project never mixes its files with packaged ones by accident.
    """
    own = project_data_dir(root) / relative
    return own if own.exists() else packaged_data_dir() / relative
