"""Progress lines for long model work, shown live on the terminal even under capture and xdist.

``report("cell 3/14 L15-add-a1: 412 tok/s")`` writes one line to the process's real stderr. On an
xdist worker that stream is the controller's terminal (workers inherit it), so lines are prefixed
with the worker id. pytest captures fd 2 while tests run; the plugin hands this module the capture
manager's ``global_and_fixture_disabled`` so a line written mid-test still reaches the terminal.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Callable, ContextManager

# Set by steerbench.pytest_plugin at configure time; None outside pytest.
_suspend_capture: Callable[[], ContextManager[None]] | None = None


def set_capture_suspender(suspend: Callable[[], ContextManager[None]] | None) -> None:
    """Install (or remove, with None) the context manager that lifts pytest's output capture."""
    global _suspend_capture
    _suspend_capture = suspend


def report(message: str) -> None:
    """Write ``[steerbench gw0] message`` (or ``[steerbench] message``) to the real stderr."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    line = f"[steerbench {worker}] {message}" if worker else f"[steerbench] {message}"
    stream = sys.__stderr__
    if stream is None:  # pythonw / detached: nowhere to write
        return
    with (_suspend_capture or contextlib.nullcontext)():
        stream.write(line + "\n")
        stream.flush()
