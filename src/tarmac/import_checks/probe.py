"""Run by the TARGET Airflow's interpreter (never the server's): what a DagBag sees in a folder.

``python probe.py FOLDER`` prints one line ``PROBE {"dags": {dag_id: file}, "errors":
{file: text}}`` with files relative to FOLDER. Standard library and Airflow only: this
file is executed by path inside an Airflow virtualenv that has no tarmac installed.
"""

from __future__ import annotations

import json
import os
import sys


def _relative(path: str, roots: tuple[str, ...]) -> str:
    for root in roots:
        if path == root or path.startswith(root + os.sep):
            return os.path.relpath(path, root)
    return path


def main(folder: str) -> None:
    try:  # Airflow 3.3 moved it; up to 3.2 it lives in airflow.models
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:
        from airflow.models.dagbag import DagBag

    bag = DagBag(dag_folder=folder, include_examples=False)
    roots = (os.path.abspath(folder), os.path.realpath(folder))
    dags = {dag_id: _relative(dag.fileloc, roots) for dag_id, dag in bag.dags.items()}
    errors = {_relative(path, roots): str(text) for path, text in bag.import_errors.items()}
    print("PROBE " + json.dumps({"dags": dags, "errors": errors}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
