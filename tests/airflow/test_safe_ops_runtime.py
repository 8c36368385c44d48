"""Automatic rollback and ``deploy --wait`` with a real Airflow run by `tarmac runtime run`.

One Airflow (2.10.5 from PyPI, no change of version, so nothing restarts but the first
start): a good deploy goes live and healthy, then a DAG-only deploy whose new DAG file
Airflow fails to import, let through by the import gate in ``warn`` mode. The runtime
side reports Airflow's own import errors; the server rolls back once, automatically, as
a normal rollback, marks the deploy bad and holds the Deployment; the real CLI's
``--wait`` exits non-zero with the import error; Airflow ends up on the first deploy's
DAGs (asked of Airflow's metadata database, not of tarmac's record).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.airflow.runtime_process import ENV_CACHE, RuntimeProcess, wait_for
from tests.airflow.test_runtime_rollback import AIRFLOW_2
from tests.support.process import ADMIN_TOKEN, ServerProcess

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def dag_source(marker: str, dag_id: str = "nightly_load") -> str:
    """A DAG without a schedule: Airflow parses it and runs nothing (less load)."""
    return f"""
from datetime import datetime
from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG({dag_id!r}, start_date=datetime(2024, 1, 1), schedule=None, tags=[{marker!r}]):
    EmptyOperator(task_id="load")
"""


BROKEN_DAG = "import tarmac_no_such_module\n" + dag_source("v2", "broken_load")


def tarmac_cli(
    server: ServerProcess, *args: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    """The real CLI in its own process, as a CI job would run it."""
    env = {
        **os.environ,
        "TARMAC_SERVER": server.url,
        "TARMAC_TOKEN": ADMIN_TOKEN,
        "XDG_CONFIG_HOME": str(server.data_dir / "xdg"),
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "tarmac", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def dags_folder(path: Path, files: dict[str, str]) -> Path:
    path.mkdir()
    for name, source in files.items():
        (path / name).write_text(source)
    return path


def events(server: ServerProcess, action: str) -> list[dict[str, Any]]:
    path = server.data_dir / "events" / "events.jsonl"
    found = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [e for e in found if e["event"]["action"] == action]


def dag_tags(runtime: RuntimeProcess) -> list[tuple[Any, ...]]:
    return runtime.query("SELECT name FROM dag_tag WHERE dag_id = 'nightly_load'")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real server whose import gate finds the prepared Airflow (it never builds one)."""
    process = ServerProcess(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'tarmac.db'}",
        env={"TARMAC_RUNTIME_ENV_DIR": str(ENV_CACHE)},
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def warehouse(server: ServerProcess, tmp_path: Path) -> Any:
    with server.client() as client:
        created = client.post(
            "/api/v1/deployments",
            json={
                "name": "warehouse",
                "runtime_version": AIRFLOW_2[0],
                "dag_deploy_mode": "dag_deploy",
            },
        )
        assert created.status_code == 201, created.text
        deployment_id = str(created.json()["id"])
        patched = client.patch(
            f"/api/v1/deployments/{deployment_id}",
            json={
                "rollback_enabled": True,
                "auto_rollback_enabled": True,
                "dag_import_check": "warn",
            },
        )
        assert patched.status_code == 200, patched.text
    # Airflow 2 on SQLite: the scheduler parses the DAGs itself.
    runtime = RuntimeProcess(
        server, deployment_id=deployment_id, home=tmp_path / "home", components="scheduler"
    )
    try:
        yield deployment_id, runtime
    finally:
        if runtime.process is not None:
            runtime.stop()


def test_dags_that_fail_to_import_in_the_runtime_are_rolled_back_automatically_once(
    server: ServerProcess, warehouse: Any, tmp_path: Path
) -> None:
    deployment_id, runtime = warehouse
    client = server.client()
    base = f"/api/v1/deployments/{deployment_id}"
    runtime.start()
    # With nothing deployed yet, the runtime side says it is there (so --wait waits for it).
    assert wait_for(lambda: runtime.status()["state"] == "stopped", timeout=120), runtime.log()

    # A good deploy: --wait returns 0 only once the runtime side runs it healthy.
    good = dags_folder(tmp_path / "good", {"nightly_load.py": dag_source("v1")})
    waited = tarmac_cli(
        server,
        *("deploy", "warehouse", "--dags", str(good), "--image", "local/warehouse:v1"),
        *("--runtime", AIRFLOW_2[0], "--no-git", "--wait", "--timeout", "600", "-o", "json"),
        timeout=900,
    )
    assert waited.returncode == 0, (waited.stdout, waited.stderr, runtime.log())
    d1 = json.loads(waited.stdout)["id"]
    assert f"is running, Airflow {AIRFLOW_2[1]}, all healthy" in waited.stderr
    status = runtime.status()
    assert status["reached_deploy_id"] == d1 and status["state"] == "running"
    assert all(c["healthy"] for c in status["components"])
    assert status["import_errors"] == []
    assert wait_for(lambda: dag_tags(runtime) == [("v1",)], timeout=180), runtime.log()

    # A DAG-only deploy with a DAG file that does not import: the gate only warns.
    broken = dags_folder(
        tmp_path / "broken",
        {"nightly_load.py": dag_source("v2"), "broken_load.py": BROKEN_DAG},
    )
    failed = tarmac_cli(
        server,
        *("deploy", "warehouse", "--dags", str(broken), "--no-git"),
        *("--wait", "--timeout", "600"),
        timeout=900,
    )
    assert failed.returncode == 1, (failed.stdout, failed.stderr, runtime.log())
    assert "error (wait):" in failed.stderr
    assert "broken_load.py" in failed.stderr
    assert "No module named 'tarmac_no_such_module'" in failed.stderr

    history = client.get(f"{base}/deploys").json()["items"]
    d3, d2, first = history[0], history[1], history[2]
    assert first["id"] == d1
    assert d2["import_check"]["status"] == "warned"
    assert d2["import_check"]["new_errors"] == ["broken_load.py"]
    # Marked bad, by tarmac, with Airflow's own error.
    assert d2["marked_bad"]["by"] == "tarmac-auto-rollback"
    assert "broken_load.py" in d2["marked_bad"]["reason"]
    assert "No module named 'tarmac_no_such_module'" in d2["marked_bad"]["reason"]
    # A normal rollback to the good deploy, recorded as automatic, saying why.
    assert d3["rollback_from_id"] == d1
    assert d3["automatic"] is True
    assert d3["created_by"] == "tarmac-auto-rollback"
    assert d3["status"] == "DEPLOYED"
    assert f"deploy #{d2['seq']} failed its health" in d3["description"]
    assert "broken_load.py" in d3["description"]
    deployment = client.get(base).json()
    assert deployment["current_deploy_id"] == d3["id"]
    assert deployment["hold"]["deploy_id"] == d3["id"]
    assert deployment["hold"]["set_by"] == "tarmac-auto-rollback"

    # The runtime really runs the first deploy's DAGs again: asked of Airflow.
    runtime.wait_running(d3["id"], airflow=AIRFLOW_2[1])
    assert wait_for(lambda: dag_tags(runtime) == [("v1",)], timeout=180), runtime.log()
    live = str((runtime.home / "dags").resolve())
    # Airflow 2.10 parsed the live folder and recorded no import error for it. (Rows it
    # wrote for an earlier folder stay: it clears only those of its current
    # processor_subdir, the symlink's target.)
    of_live = f"processor_subdir = '{live}'"
    parsed = f"SELECT COUNT(*) FROM dag WHERE dag_id = 'nightly_load' AND {of_live}"
    assert wait_for(lambda: runtime.query(parsed) == [(1,)], timeout=180), runtime.log()
    assert runtime.query(f"SELECT filename FROM import_error WHERE {of_live}") == []
    assert runtime.status()["import_errors"] == []
    assert (runtime.home / "dags" / "nightly_load.py").read_text() == dag_source("v1")
    assert not (runtime.home / "dags" / "broken_load.py").exists()

    # Exactly once: a few more reports of the runtime side change nothing.
    reported = runtime.status()["reported_at"]
    assert wait_for(lambda: runtime.status()["reported_at"] != reported, timeout=120)
    assert len(client.get(f"{base}/deploys").json()["items"]) == 3
    (event,) = events(server, "deploy.auto_rollback")
    assert event["event"]["outcome"] == "success"
    assert event["tarmac"]["auto_rollback"]["action"] == "rolled_back"
    assert event["tarmac"]["auto_rollback"]["rollback"]["id"] == d3["id"]
    assert len(events(server, "deploy.rollback")) == 1

    # The held Deployment refuses the next plain deploy from the same pipeline.
    again = tarmac_cli(
        server, "deploy", "warehouse", "--dags", str(broken), "--no-git", timeout=300
    )
    assert again.returncode != 0
    assert "rollback_hold" in again.stderr + again.stdout
    client.close()
