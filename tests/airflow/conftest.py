"""A real Apache Airflow, in its own virtualenv (its pins clash with the server's)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.process import ServerProcess
from tests.support.requirements import cannot_run

ROOT = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("airflow_probe.py")


@pytest.fixture(scope="session")
def airflow_python() -> Path:
    """The Airflow venv's python, made by scripts/airflow-venv.sh (cached after the first run)."""
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "airflow-venv.sh")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        message = f"scripts/airflow-venv.sh failed:\n{result.stderr[-3000:]}"
        cannot_run(message)
    return Path(result.stdout.strip().splitlines()[-1]) / "bin" / "python"


class Airflow:
    """Runs the probe in the Airflow venv with its own AIRFLOW_HOME and bundle storage."""

    def __init__(self, python: Path, home: Path) -> None:
        self.python = python
        self.env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(home / "dag_bundles"),
            # This checkout's tarmac, not an installed one: the venv serves every checkout.
            "PYTHONPATH": str(ROOT / "src"),
        }

    def probe(self, command: str, argument: str) -> dict[str, Any]:
        result = subprocess.run(
            [str(self.python), str(PROBE), command, argument],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-5000:]
        line = next(x for x in result.stdout.splitlines() if x.startswith("PROBE "))
        return json.loads(line.removeprefix("PROBE "))  # type: ignore[no-any-return]

    def dagbag(self, folder: Path) -> dict[str, Any]:
        return self.probe("dagbag", str(folder))

    def configure_bundle(self, *, name: str, token: str, **kwargs: Any) -> None:
        """Configure a TarmacDagBundle as docs/agent.md shows (the token in an env var)."""
        config = [
            {"name": name, "classpath": "tarmac.airflow.bundle.TarmacDagBundle", "kwargs": kwargs}
        ]
        self.env["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(config)
        self.env["TARMAC_TOKEN"] = token

    def bundle(self, name: str, **spec: Any) -> dict[str, Any]:
        return self.probe("bundle", json.dumps({"name": name, **spec}))

    @property
    def bundle_storage(self) -> Path:
        return Path(self.env["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH"])


@pytest.fixture
def airflow(airflow_python: Path, tmp_path: Path) -> Airflow:
    return Airflow(airflow_python, tmp_path / "airflow-home")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real server on SQLite (these tests are about Airflow, not the database)."""
    process = ServerProcess(
        data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'tarmac.db'}"
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()
