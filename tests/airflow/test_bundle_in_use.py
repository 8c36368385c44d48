"""A real Airflow 3 DAG run in progress keeps the tarmac deploy it reads from cleanup.

Airflow 3.1 runs here as in production: a DAG processor, a scheduler with the
LocalExecutor and the API server its tasks talk to, with DAGs from ``TarmacDagBundle``.
A run starts on v1 and holds until the test releases it. Meanwhile v2 and v3 go live and
cleanup runs: it deletes v2 (no run reads it) and keeps v1; the held task still reads
v1's files afterwards. Once the run has ended, nothing renews v1 and a later cleanup
deletes it.
"""

from __future__ import annotations

import json
import secrets
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.agent.agent_process import agent_token, deploy_dags
from tests.support.airflow_processes import DagProcessor
from tests.support.bundles import make_bundle
from tests.support.process import ServerProcess

pytestmark = pytest.mark.airflow

PATIENCE = 600.0  # seconds: a generous bound on "it happened at all" on a loaded machine
IN_USE_HOURS = 1 / 60  # the shortest report the bundle sends (60 s), so the test ends soon


def held_dag(marker: str) -> str:
    """A DAG run once, whose task says where its code is and waits to be released."""
    return (
        "import os, pathlib, time\n"
        "from datetime import datetime\n"
        "from airflow.sdk import DAG, task\n"
        "with DAG('held', schedule='@once', start_date=datetime(2024, 1, 1), catchup=False):\n"
        "    @task\n"
        "    def hold():\n"
        "        out = pathlib.Path(os.environ['TARMAC_TEST_OUT'])\n"
        "        here = pathlib.Path(__file__).parent\n"
        "        (out / 'started').write_text(str(here))\n"
        "        while not (out / 'release').exists():\n"
        "            time.sleep(0.5)\n"
        "        (out / 'read-at-the-end').write_text((here / 'marker.txt').read_text())\n"
        "    hold()\n"
        f"# {marker}\n"
    )


def bundle(marker: str) -> bytes:
    return make_bundle({"held.py": held_dag(marker), "marker.txt": marker})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], Any], what: str, log: Callable[[], str]) -> Any:
    deadline = time.monotonic() + PATIENCE
    while not (result := condition()):
        assert time.monotonic() < deadline, f"{what} did not happen\n{log()}"
        time.sleep(1)
    return result


class RealAirflow:
    """DAG processor, scheduler and API server of one Airflow 3 on SQLite."""

    def __init__(self, venv: Path, home: Path, env: dict[str, str]) -> None:
        port = _free_port()
        shared = {
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            # A loaded test machine answers slowly: tasks wait for the API server, not fail.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "120",
            **env,
        }
        self.parts = [
            DagProcessor(venv=venv, home=home, env=shared, command=command)
            for command in ("api-server", "dag-processor", "scheduler")
        ]
        self.database = self.parts[0].database
        self.api_url = f"http://127.0.0.1:{port}"

    def start(self) -> None:
        api_server, *others = self.parts
        api_server.migrate()
        api_server.start()
        # Tasks talk to the API server from their first moment: have it answer first.
        wait_for(self._api_answers, "Airflow's API server answering", self.logs)
        for part in others:
            part.start()

    def _api_answers(self) -> bool:
        try:
            return httpx.get(f"{self.api_url}/api/v2/monitor/health", timeout=10).is_success
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        for part in reversed(self.parts):
            part.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.command}\n{p.log()[-3000:]}" for p in self.parts)

    def run_state(self, dag_id: str) -> str | None:
        try:
            with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=10) as db:
                row = db.execute("SELECT state FROM dag_run WHERE dag_id = ?", (dag_id,)).fetchone()
        except sqlite3.Error:
            return None
        return str(row[0]) if row else None


@pytest.fixture
def airflow_venv(airflow_python: Path) -> Path:
    return airflow_python.parent.parent


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "task-out"
    folder.mkdir()
    return folder


@pytest.fixture
def deployment_id(server: ServerProcess) -> str:
    with server.client() as client:
        response = client.post(
            "/api/v1/deployments",
            json={"name": "held", "runtime_version": "3.1-1", "dag_deploy_mode": "dag_deploy"},
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


@pytest.fixture
def airflow(
    server: ServerProcess, deployment_id: str, airflow_venv: Path, tmp_path: Path, out: Path
) -> Iterator[RealAirflow]:
    config = [
        {
            "name": "dags",
            "classpath": "tarmac.airflow.bundle.TarmacDagBundle",
            "kwargs": {
                "server_url": server.url,
                "deployment_id": deployment_id,
                "version_in_use_hours": IN_USE_HOURS,
            },
        }
    ]
    real = RealAirflow(
        airflow_venv,
        tmp_path / "airflow-home",
        {
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(config),
            "TARMAC_TOKEN": agent_token(server, deployment_id),
            "TARMAC_TEST_OUT": str(out),
        },
    )
    try:
        yield real
    finally:
        real.stop()


def _history_ids(server: ServerProcess, deployment_id: str) -> list[str]:
    with server.client() as client:
        response = client.get(f"/api/v1/deployments/{deployment_id}/deploys", params={"limit": 100})
        assert response.status_code == 200, response.text
        return [d["id"] for d in response.json()["items"]]


def _in_use_until(server: ServerProcess, deploy_id: str) -> str | None:
    """What tarmac's database says: until when a DAG run reported the deploy in use."""
    database = server.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as db:
        row = db.execute("SELECT in_use_until FROM deploys WHERE id = ?", (deploy_id,)).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def _cleanup(server: ServerProcess) -> dict[str, Any]:
    with server.client() as client:
        response = client.post(
            "/api/v1/admin/cleanup-deploy-revisions",
            json={"older_than_days": 0, "grace_seconds": 0},
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


def test_a_running_dag_run_keeps_its_bundle_version_until_it_ends(
    server: ServerProcess, deployment_id: str, airflow: RealAirflow, out: Path
) -> None:
    v1 = deploy_dags(server.client(), deployment_id, bundle("v1"))
    airflow.start()

    def task_started() -> str | None:
        assert airflow.run_state("held") != "failed", airflow.logs()
        return (out / "started").read_text() if (out / "started").exists() else None

    started = wait_for(task_started, "the DAG run's task starting", airflow.logs)
    assert started.endswith(f"/versions/{v1['id']}"), started  # the run reads version v1
    # The task reported v1 in use as it started; the DAG processor renews the report while
    # the run is unfinished (the task's own report alone would lapse during a long run).
    first_report = _in_use_until(server, v1["id"])
    assert first_report is not None
    wait_for(
        lambda: (_in_use_until(server, v1["id"]) or "") > first_report,
        "the DAG processor renewing v1's report",
        airflow.logs,
    )

    v2 = deploy_dags(server.client(), deployment_id, bundle("v2"))
    v3 = deploy_dags(server.client(), deployment_id, bundle("v3"))
    cleaned = _cleanup(server)
    # v2 (read by no run) goes; v1 (read by the run in progress) and v3 (live) stay.
    assert _history_ids(server, deployment_id) == [v3["id"], v1["id"]], cleaned
    assert cleaned["deleted_deploys"] == 1, cleaned
    assert v2["id"] not in _history_ids(server, deployment_id)
    with server.client() as client:
        assert client.get(f"/api/v1/blobs/{v1['bundle_sha256']}").status_code == 200

    (out / "release").touch()
    wait_for(lambda: airflow.run_state("held") == "success", "the DAG run ending", airflow.logs)
    assert (out / "read-at-the-end").read_text() == "v1"  # it read v1 to the end

    # The run has ended: nothing renews v1, and once its last report runs out it goes.
    def v1_deleted() -> bool:
        _cleanup(server)
        return v1["id"] not in _history_ids(server, deployment_id)

    wait_for(v1_deleted, "cleanup deleting v1 after its run ended", airflow.logs)
    assert _history_ids(server, deployment_id) == [v3["id"]]
