"""Failpoints: let crash tests kill the process at a named point, like ``kill -9`` would.

Off unless ``TARMAC_FAILPOINTS`` names the point; read at each call, never at import.
"""

from __future__ import annotations

import os
import signal


def failpoint(name: str) -> None:
    """Die at once with SIGKILL if the environment asks for a crash at ``name``."""
    wanted = os.environ.get("TARMAC_FAILPOINTS", "")
    if wanted and name in wanted.split(","):
        os.kill(os.getpid(), signal.SIGKILL)
