"""What the reliability tests did, for scripts/reliability_report.py: when
``TARMAC_RELIABILITY_STATS`` names a file, each test appends one JSON line of counts
once its assertions have passed. Off (a no-op) otherwise."""

from __future__ import annotations

import json
import os

STATS_ENV = "TARMAC_RELIABILITY_STATS"


def record(kind: str, **counts: object) -> None:
    path = os.environ.get(STATS_ENV)
    if not path:
        return
    with open(path, "a") as out:
        out.write(json.dumps({"kind": kind, **counts}) + "\n")
