"""Refresh the list of apache-airflow releases (from pip's index) and check the catalog against it.

    python scripts/check_runtime_catalog.py     # needs the package index; rewrites the list
The unit tests check the shipped catalog against the list offline.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "tarmac" / "runtimes" / "data"


def released_versions() -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", "apache-airflow"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("Available versions:"))
    versions = [v.strip() for v in line.removeprefix("Available versions:").split(",")]
    return sorted(
        (v for v in versions if v and v.replace(".", "").isdigit()),
        key=lambda v: tuple(int(p) for p in v.split(".")),
    )


def main() -> int:
    versions = released_versions()
    (DATA / "pypi-airflow-versions.txt").write_text("\n".join(versions) + "\n")
    catalog = json.loads((DATA / "runtimes.json").read_text())["runtimeVersions"]
    missing = {
        runtime: entry["metadata"]["airflowVersion"]
        for runtime, entry in catalog.items()
        if entry["metadata"]["airflowVersion"] not in versions
    }
    for runtime, airflow in missing.items():
        print(f"runtime {runtime}: Airflow {airflow} is not released", file=sys.stderr)
    print(f"{len(catalog)} runtimes checked against {len(versions)} Airflow releases")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
