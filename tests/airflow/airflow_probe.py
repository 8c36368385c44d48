"""Run inside the Airflow venv (not the server's): report what a real Airflow sees, as JSON.

python airflow_probe.py dagbag PATH
python airflow_probe.py bundle '{"version": null, "refresh": true, "kwargs": {...}}'
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def dagbag(folder: str) -> dict[str, Any]:
    from airflow.models.dagbag import DagBag

    bag = DagBag(dag_folder=folder, include_examples=False)
    return {"dag_ids": sorted(bag.dag_ids), "import_errors": dict(bag.import_errors)}


def bundle(spec: dict[str, Any]) -> dict[str, Any]:
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    dag_bundle = DagBundlesManager().get_bundle(spec["name"], version=spec.get("version"))
    dag_bundle.initialize()
    if spec.get("refresh"):
        dag_bundle.refresh()
    path = Path(dag_bundle.path)
    files = {
        str(p.relative_to(path)): p.read_text() for p in sorted(path.rglob("*")) if p.is_file()
    }
    return {
        "class": type(dag_bundle).__qualname__,
        "supports_versioning": dag_bundle.supports_versioning,
        "version": dag_bundle.get_current_version(),
        "path": str(path),
        "files": files,
        "dagbag": dagbag(str(path)),
    }


if __name__ == "__main__":
    command, argument = sys.argv[1], sys.argv[2]
    result = dagbag(argument) if command == "dagbag" else bundle(json.loads(argument))
    print("PROBE " + json.dumps(result))
