"""Failpoints: let crash tests kill the process at a named point, like ``kill -9`` would.

Off unless ``TARMAC_FAILPOINTS`` names the point, or the file that
``TARMAC_FAILPOINTS_FILE`` points to does (so that a long-lived process, such as the
runtime side with its Airflow running, can be armed without a restart). Both are read at
each call, never at import.
"""

from __future__ import annotations

import os
import signal


def failpoint(name: str) -> None:
    """Die at once with SIGKILL if the environment asks for a crash at ``name``."""
    if name in _armed():
        os.kill(os.getpid(), signal.SIGKILL)


def _armed() -> set[str]:
    names = set(os.environ.get("TARMAC_FAILPOINTS", "").split(","))
    path = os.environ.get("TARMAC_FAILPOINTS_FILE")
    if path:
        try:
            with open(path) as handle:
                names.update(handle.read().replace(",", " ").split())
        except OSError:
            pass
    names.discard("")
    return names
