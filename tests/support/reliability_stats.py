"""What the reliability tests did, for scripts/reliability_report.py: when
``TARMAC_RELIABILITY_STATS`` names a file, each test appends one JSON line of counts
once its assertions have passed. Off (a no-op) otherwise.

Each line also names the test that wrote it (pytest's own ``PYTEST_CURRENT_TEST``), so
the report can tell which database a figure was measured on from the test's parameters.
"""

from __future__ import annotations

import json
import os

STATS_ENV = "TARMAC_RELIABILITY_STATS"


def record(kind: str, **counts: object) -> None:
    path = os.environ.get(STATS_ENV)
    if not path:
        return
    test_id = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
    with open(path, "a") as out:
        out.write(json.dumps({"kind": kind, "test_id": test_id, **counts}) + "\n")
