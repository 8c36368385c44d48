"""A real Airflow run by `tarmac runtime run`, rolled back from 3.1 to 2.10 and forward again.

Nothing here is simulated: both Airflows come from PyPI, the metadata database is
really migrated and downgraded by Airflow's own commands, and every assertion about
what runs asks the running processes or Airflow's database, not tarmac's record.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.airflow.runtime_process import (
    RuntimeProcess,
    airflow_cli,
    migration_head,
    pid_alive,
    process_running,
    wait_for,
)
from tests.support.bundles import make_bundle
from tests.support.process import ServerProcess

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

AIRFLOW_2 = ("12.11.0", "2.10.5")
AIRFLOW_3 = ("3.1-9", "3.1.8")
SECRET = "s3cr3t-swordfish-4711"
COMPONENTS = "scheduler,dag-processor,api-server"  # Airflow 3 tasks need the API server


def dag_source(marker: str) -> str:
    start = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y, %m, %d")
    return f'''
import os
from datetime import datetime, timedelta
try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG
try:
    from airflow.providers.standard.operators.python import PythonOperator
except ImportError:
    from airflow.operators.python import PythonOperator


def check_secret():
    ok = os.environ.get("WAREHOUSE_PASSWORD") == {SECRET!r}
    path = os.path.join(os.environ["TARMAC_TEST_OUT"], "secret-check-{marker}")
    with open(path, "w") as out:
        out.write("ok" if ok else "missing")


# Retries: on a loaded host a task's calls to Airflow 3's API server can time out.
with DAG("nightly_load", start_date=datetime({start}), schedule="@daily", catchup=True,
         max_active_runs=1, tags=["{marker}"],
         default_args={{"retries": 3, "retry_delay": timedelta(seconds=5)}}):
    PythonOperator(task_id="check_secret", python_callable=check_secret)
'''


# Airflow 3 only: a producer with an Asset outlet, and a DAG scheduled on that asset.
ASSET_DAGS = """
from datetime import datetime, timedelta
from airflow.sdk import DAG, Asset
from airflow.providers.standard.operators.empty import EmptyOperator

ORDERS = Asset("file:///warehouse/orders.csv")
START = datetime(2026, 1, 1)
RETRIES = {"retries": 3, "retry_delay": timedelta(seconds=5)}
with DAG("orders_export", start_date=START, schedule="@daily", catchup=False,
         default_args=RETRIES):
    EmptyOperator(task_id="export", outlets=[ORDERS])
with DAG("orders_report", start_date=START, schedule=[ORDERS], catchup=False,
         default_args=RETRIES):
    EmptyOperator(task_id="report")
"""


def bundle(marker: str, *, assets: bool = False) -> bytes:
    files = {"nightly_load.py": dag_source(marker)}
    if assets:
        files["orders.py"] = ASSET_DAGS
    return make_bundle(files)


def create_deployment(client: httpx.Client, out_dir: Path) -> str:
    response = client.post(
        "/api/v1/deployments",
        json={
            "name": "warehouse",
            "runtime_version": AIRFLOW_2[0],
            "dag_deploy_mode": "dag_deploy",
            "env_vars": [
                {"key": "WAREHOUSE_PASSWORD", "value": SECRET, "is_secret": True},
                {"key": "TARMAC_TEST_OUT", "value": str(out_dir)},
            ],
        },
    )
    assert response.status_code == 201, response.text
    deployment_id = str(response.json()["id"])
    patched = client.patch(f"/api/v1/deployments/{deployment_id}", json={"rollback_enabled": True})
    assert patched.status_code == 200, patched.text
    return deployment_id


def image_deploy(
    client: httpx.Client, deployment_id: str, runtime: str, marker: str, *, assets: bool = False
) -> str:
    response = client.post(
        f"/api/v1/deployments/{deployment_id}/deploys",
        data={
            "type": "IMAGE_AND_DAG",
            "image": f"local/warehouse:{marker}",
            "runtime_version": runtime,
            "description": f"deploy {marker}",
        },
        files={"dags": ("dags.tar.gz", bundle(marker, assets=assets), "application/gzip")},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def rollback(
    client: httpx.Client, deployment_id: str, deploy_id: str, **body: Any
) -> httpx.Response:
    return client.post(
        f"/api/v1/deployments/{deployment_id}/deploys/{deploy_id}/rollback",
        json={"description": "the 3.1 upgrade broke the nightly load", **body},
    )


def successful_runs(runtime: RuntimeProcess) -> set[str]:
    return {row[0] for row in runtime.query("SELECT run_id FROM dag_run WHERE state = 'success'")}


@pytest.fixture
def warehouse(server: ServerProcess, tmp_path: Path) -> Any:
    out = tmp_path / "task-out"
    out.mkdir()
    with server.client() as client:
        deployment_id = create_deployment(client, out)
    runtime = RuntimeProcess(
        server, deployment_id=deployment_id, home=tmp_path / "home", components=COMPONENTS
    )
    try:
        yield deployment_id, runtime, out
    finally:
        if runtime.process is not None:
            runtime.stop()


UNFINISHED_RUNS = "SELECT COUNT(*) FROM dag_run WHERE state NOT IN ('success', 'failed')"
UNFINISHED_TIS = (
    "SELECT COUNT(*) FROM task_instance"
    " WHERE state IS NULL OR state NOT IN ('success', 'failed', 'skipped')"
)


def settled(runtime: RuntimeProcess, *, asset_runs: int) -> bool:
    """No run or task left to do, no asset event waiting, ``asset_runs`` asset runs done."""
    done_asset_runs = "SELECT COUNT(*) FROM dag_run WHERE run_type = 'asset_triggered'"
    return (
        runtime.query(UNFINISHED_RUNS)[0][0] == 0
        and runtime.query(UNFINISHED_TIS)[0][0] == 0
        and runtime.query("SELECT COUNT(*) FROM asset_dag_run_queue")[0][0] == 0
        and runtime.query(done_asset_runs)[0][0] >= asset_runs
    )


def test_rollback_from_airflow_3_to_2_and_forward_runs_the_real_airflow_each_time(
    server: ServerProcess, warehouse: Any
) -> None:
    """2.10 -> 3.1 -> 2.10 -> 3.1 with Airflow 3's own features in the database.

    On 3.1, for real: a manual run, a backfill, an asset-scheduled DAG fed by a producer,
    and cleared (retried) tasks. The rollback's plan then says what the downgrade will do
    with them, with numbers counted here in the database, and the downgrade does exactly that.
    """
    deployment_id, runtime, out = warehouse
    client = server.client()
    d1 = image_deploy(client, deployment_id, AIRFLOW_2[0], "v1")
    runtime.start()
    runtime.wait_running(d1, airflow=AIRFLOW_2[1])
    assert wait_for(lambda: len(successful_runs(runtime)) >= 1, timeout=300), runtime.log()
    runs_on_2 = successful_runs(runtime)
    assert (out / "secret-check-v1").read_text() == "ok"

    # Upgrade: a deploy on Airflow 3.1 migrates the database with `db migrate`.
    d2 = image_deploy(client, deployment_id, AIRFLOW_3[0], "v2", assets=True)
    runtime.wait_running(d2, airflow=AIRFLOW_3[1])
    assert runtime.component_info("scheduler")["airflow_version"] == AIRFLOW_3[1]
    assert runs_on_2 <= successful_runs(runtime)

    # Airflow 3 features, made with Airflow's own CLI against the running 3.1.
    assert wait_for(lambda: settled(runtime, asset_runs=1), timeout=300), runtime.log()
    airflow_cli(runtime, AIRFLOW_3[1], "dags", "trigger", "nightly_load")
    days_ago = lambda n: (datetime.now(UTC) - timedelta(days=n)).strftime("%Y-%m-%d")  # noqa: E731
    airflow_cli(
        runtime, AIRFLOW_3[1], "backfill", "create", "--dag-id", "orders_export",
        "--from-date", days_ago(6), "--to-date", days_ago(4),
    )  # fmt: skip
    assert wait_for(lambda: settled(runtime, asset_runs=2), timeout=300), runtime.log()
    airflow_cli(runtime, AIRFLOW_3[1], "tasks", "clear", "orders_export", "--yes")
    assert wait_for(lambda: settled(runtime, asset_runs=2), timeout=300), runtime.log()
    assert runtime.query("SELECT COUNT(*) FROM backfill_dag_run")[0][0] == 3
    assert runtime.query("SELECT COUNT(*) FROM task_instance_history")[0][0] >= 2
    settled_at = datetime.now(UTC)

    # The plan, once the runtime side has reported the settled database.
    assert wait_for(
        lambda: (
            datetime.fromisoformat(runtime.status()["metadata_facts"]["measured_at"]) > settled_at
        ),
        timeout=120,
    )
    plan = rollback(client, deployment_id, d1, dry_run=True)
    assert plan.status_code == 200, plan.text
    data_loss = next(w for w in plan.json()["plan"]["warnings"] if w["code"] == "data_loss")
    counts = data_loss.get("row_counts") or {}
    assert counts["backfill"] == 1 and counts["backfill_dag_run"] == 3, counts
    for table, count in counts.items():
        assert runtime.query(f'SELECT COUNT(*) FROM "{table}"')[0][0] == count, table
    renamed = {r["name"]: r["renamed_to"] for r in data_loss["renamed_tables"]}
    assert renamed["asset_event"] == "dataset_event"
    asset_events = runtime.query("SELECT COUNT(*) FROM asset_event")[0][0]
    assets = runtime.query("SELECT COUNT(*) FROM asset")[0][0]
    assert asset_events >= 2 and "asset_event" not in counts
    risks = {r["code"]: r for r in data_loss["downgrade_risks"]}
    runless = "FROM dag_run WHERE logical_date IS NULL"
    moved_runs = set(runtime.query(f"SELECT run_id {runless}"))
    assert len(moved_runs) >= 3  # the manual run and two asset-triggered ones
    assert risks["dag_runs_moved_aside"]["rows"] == len(moved_runs)
    their_tis = runtime.query(
        "SELECT COUNT(*) FROM task_instance ti JOIN dag_run r"
        " ON r.dag_id = ti.dag_id AND r.run_id = ti.run_id WHERE r.logical_date IS NULL"
    )[0][0]
    assert risks["task_instances_left_without_run"]["rows"] == their_tis >= 3
    history = runtime.query("SELECT COUNT(*) FROM task_instance_history")[0][0]
    assert risks["task_instance_history_downgrade_fails"]["rows"] == history
    kept_confs = "SELECT COUNT(*) FROM dag_run WHERE conf IS NOT NULL AND logical_date IS NOT NULL"
    assert risks["dag_run_conf_unreadable"]["rows"] == runtime.query(kept_confs)[0][0]
    kept_runs = set(runtime.query("SELECT run_id FROM dag_run WHERE logical_date IS NOT NULL"))

    # Roll back to the deploy on Airflow 2.10: snapshot, `db downgrade` with 3.1, 2.10 starts.
    response = rollback(client, deployment_id, d1, acknowledge=["data_loss"])
    assert response.status_code == 201, response.text
    d3 = str(response.json()["id"])
    runtime.wait_running(d3, airflow=AIRFLOW_2[1])
    scheduler = runtime.component_info("scheduler")
    assert scheduler["airflow_version"] == AIRFLOW_2[1]
    assert pid_alive(scheduler["pid"])
    migrations = (runtime.home / "logs" / "migrations.log").read_text()
    assert "db downgrade --to-version 2.10.5" in migrations
    with server.client() as c:
        snapshots = c.get(f"/api/v1/deployments/{deployment_id}/snapshots").json()["items"]
    # One before each change of Airflow version, newest first: the upgrade's, the downgrade's.
    assert [(s["deploy_id"], s["airflow_version"]) for s in snapshots] == [
        (d3, AIRFLOW_3[1]),
        (d2, AIRFLOW_2[1]),
    ]
    assert all(s["size_bytes"] > 0 for s in snapshots)
    # The target's DAGs are parsed by the 2.10 DAG processor.
    assert wait_for(
        lambda: (
            runtime.query("SELECT name FROM dag_tag WHERE dag_id = 'nightly_load'") == [("v1",)]
        ),
        timeout=180,
    ), runtime.log()
    assert runs_on_2 <= successful_runs(runtime)

    # What the downgrade did is what the plan said: the tables it named are gone,
    assert not {t["name"] for t in data_loss["tables"]} & tables(runtime)
    # the renamed ones are kept under their Airflow 2 names, rows and all,
    assert runtime.query("SELECT COUNT(*) FROM dataset_event")[0][0] == asset_events
    assert runtime.query("SELECT COUNT(*) FROM dataset")[0][0] == assets
    # the runs without a logical date are in Airflow's moved-aside table, the others kept,
    offending = "_airflow_moved__3_0_0__offending_dag_run"
    assert set(runtime.query(f"SELECT run_id FROM {offending}")) == moved_runs
    assert kept_runs <= set(runtime.query("SELECT run_id FROM dag_run"))
    assert not moved_runs & set(runtime.query("SELECT run_id FROM dag_run"))
    # and the try history and the moved runs' task instances are in tarmac's tables.
    assert moved_count(runtime, r"_tarmac_moved__task_instance_history_\d+") == history
    assert moved_count(runtime, r"_tarmac_moved__task_instance_\d+") == their_tis

    # Forward again to 3.1 (a rollback to the 3.1 deploy): `db migrate`, runs still there.
    response = rollback(client, deployment_id, d2)
    assert response.status_code == 201, response.text
    d4 = str(response.json()["id"])
    runtime.wait_running(d4, airflow=AIRFLOW_3[1])
    assert runs_on_2 <= successful_runs(runtime)
    assert kept_runs <= set(runtime.query("SELECT run_id FROM dag_run"))
    assert not moved_runs & set(runtime.query("SELECT run_id FROM dag_run"))  # as the plan said
    client.close()


def tables(runtime: RuntimeProcess) -> set[str]:
    return {row[0] for row in runtime.query("SELECT name FROM sqlite_master WHERE type='table'")}


def moved_count(runtime: RuntimeProcess, pattern: str) -> int:
    """Rows of the one table tarmac moved rows into whose name matches ``pattern``."""
    (table,) = [name for name in tables(runtime) if re.fullmatch(pattern, name)]
    return int(runtime.query(f'SELECT COUNT(*) FROM "{table}"')[0][0])


def test_secret_env_var_reaches_the_task_but_no_log_event_or_process_list(
    server: ServerProcess, warehouse: Any
) -> None:
    deployment_id, runtime, out = warehouse
    with server.client() as client:
        d1 = image_deploy(client, deployment_id, AIRFLOW_2[0], "v1")
    runtime.start()
    runtime.wait_running(d1, airflow=AIRFLOW_2[1])
    assert wait_for(lambda: (out / "secret-check-v1").exists(), timeout=300), runtime.log()
    assert (out / "secret-check-v1").read_text() == "ok"
    processes = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True)
    assert SECRET not in processes.stdout
    places = [runtime.log_path, server.log_path, *runtime.home.rglob("*.log")]
    places += list((server.data_dir / "events").glob("*.jsonl"))
    leaked = [str(p) for p in places if p.is_file() and SECRET in p.read_text(errors="replace")]
    assert leaked == []


def test_a_downgrade_that_airflow_fails_restores_the_snapshot_then_the_repair_lets_it_pass(
    server: ServerProcess, warehouse: Any
) -> None:
    """Airflow's own SQLite downgrade below 3.0 fails on retried tasks; tarmac restores.

    Run with repairs off, Airflow's migration really fails: the snapshot is restored, 3.1
    runs again, the rollback is FAILED and the 3.1 deploy live. With repairs on (the
    default), the plan's repair moves the try history aside and the same rollback passes.
    """
    deployment_id, runtime, _out = warehouse
    client = server.client()
    d1 = image_deploy(client, deployment_id, AIRFLOW_2[0], "v1")
    d2 = image_deploy(client, deployment_id, AIRFLOW_3[0], "v2")
    runtime.start(env={"TARMAC_RUNTIME_DOWNGRADE_REPAIRS": "false"})
    runtime.wait_running(d2, airflow=AIRFLOW_3[1])
    assert wait_for(lambda: len(successful_runs(runtime)) >= 2, timeout=300), runtime.log()
    # Clearing finished tasks makes Airflow keep their earlier tries in task_instance_history.
    airflow_cli(runtime, AIRFLOW_3[1], "tasks", "clear", "nightly_load", "--yes")
    history_rows = lambda: runtime.query("SELECT COUNT(*) FROM task_instance_history")[0][0]  # noqa: E731
    unfinished = "SELECT COUNT(*) FROM task_instance WHERE state IS NULL OR state NOT IN ('success', 'failed', 'skipped')"  # noqa: E501
    assert wait_for(
        lambda: history_rows() >= 2 and runtime.query(unfinished)[0][0] == 0, timeout=300
    )
    rows_before = history_rows()
    reported = lambda: runtime.status()["metadata_facts"]["row_counts"]  # noqa: E731
    # The runtime side reports the database's row counts every few seconds.
    assert wait_for(lambda: reported()["task_instance_history"] >= rows_before, timeout=120)

    plan = rollback(client, deployment_id, d1, dry_run=True).json()["plan"]
    data_loss = next(w for w in plan["warnings"] if w["code"] == "data_loss")
    risk_codes = [r["code"] for r in data_loss["downgrade_risks"]]
    assert "task_instance_history_downgrade_fails" in risk_codes

    failed = rollback(client, deployment_id, d1, acknowledge=["data_loss"])
    assert failed.status_code == 201, failed.text
    d3 = str(failed.json()["id"])
    assert wait_for(
        lambda: (
            client.get(f"/api/v1/deployments/{deployment_id}/deploys/{d3}").json()["status"]
            == "FAILED"
        ),
        timeout=600,
        interval=2,
    ), runtime.log()
    record = client.get(f"/api/v1/deployments/{deployment_id}/deploys/{d3}").json()
    assert "airflow db downgrade failed" in record["failure_reason"]
    assert (
        "UNIQUE constraint failed: _alembic_tmp_task_instance_history.id"
        in (record["failure_reason"])
    )
    assert client.get(f"/api/v1/deployments/{deployment_id}").json()["current_deploy_id"] == d2
    runtime.wait_running(d2, airflow=AIRFLOW_3[1])
    assert runtime.component_info("scheduler")["airflow_version"] == AIRFLOW_3[1]
    assert history_rows() == rows_before  # the snapshot is back, rows and all

    runtime.stop()
    runtime.start()  # repairs on, as by default
    runtime.wait_running(d2, airflow=AIRFLOW_3[1])
    passed = rollback(client, deployment_id, d1, acknowledge=["data_loss"])
    assert passed.status_code == 201, passed.text
    d4 = str(passed.json()["id"])
    runtime.wait_running(d4, airflow=AIRFLOW_2[1])
    moved = runtime.query(
        "SELECT name FROM sqlite_master WHERE name LIKE '_tarmac_moved__task_instance_history%'"
    )
    assert len(moved) == 1
    # Every try history row at the time of the downgrade (a retry may have added one since).
    assert runtime.query(f'SELECT COUNT(*) FROM "{moved[0][0]}"')[0][0] >= rows_before
    client.close()


# Each step of a change of Airflow version, with the direction the change goes there.
CRASH_STEPS = [
    ("runtime_after_stop", AIRFLOW_2),  # components stopped, nothing else done yet
    ("runtime_after_snapshot", AIRFLOW_3),  # snapshot taken and journaled, not yet recorded
    ("runtime_during_db_downgrade", AIRFLOW_2),  # Airflow's downgrade half done
    ("runtime_after_migrate", AIRFLOW_3),  # `db migrate` done, the target not started
    ("runtime_after_start", AIRFLOW_2),  # 2.10 started on the downgraded database
]


def test_kill_9_of_the_runtime_side_at_each_step_of_a_version_change_recovers(
    server: ServerProcess, warehouse: Any, tmp_path: Path
) -> None:
    """kill -9 at each step, alternately down to 2.10 and up to 3.1, on one Deployment.

    After each restart: the snapshot (if one was taken) is restored under the previous
    Airflow, which runs again, and the rollout is tried again to its end. What is checked
    is what a user relies on: one live deploy, the Airflow that runs (asked of the running
    scheduler) is that deploy's, the metadata database is at that Airflow's own head
    revision, every DAG run is still there, and every recorded snapshot still exists.
    """
    deployment_id, runtime, _out = warehouse
    armed = tmp_path / "failpoints"  # read by the runtime side at each failpoint
    client = server.client()
    deploys = {AIRFLOW_2: image_deploy(client, deployment_id, AIRFLOW_2[0], "v1")}
    deploys[AIRFLOW_3] = image_deploy(client, deployment_id, AIRFLOW_3[0], "v2")
    runtime.start(env={"TARMAC_FAILPOINTS_FILE": str(armed)})
    runtime.wait_running(deploys[AIRFLOW_3], airflow=AIRFLOW_3[1])
    assert wait_for(lambda: len(successful_runs(runtime)) >= 1, timeout=300), runtime.log()
    migrations_log = runtime.home / "logs" / "migrations.log"

    for point, target in CRASH_STEPS:
        runs_before = successful_runs(runtime)
        snapshots_before = {s["id"] for s in snapshot_list(client, deployment_id)}
        log_offset = migrations_log.stat().st_size
        runtime_log_offset = runtime.log_path.stat().st_size
        armed.write_text(point)
        downgrade = target == AIRFLOW_2
        response = rollback(
            client, deployment_id, deploys[target], acknowledge=["data_loss"] if downgrade else []
        )
        assert response.status_code == 201, response.text
        deploy_id = str(response.json()["id"])
        assert runtime.process is not None
        assert runtime.process.wait(timeout=600) == -9, (point, runtime.log())
        armed.write_text("")
        orphan = None
        if point == "runtime_during_db_downgrade":
            # The downgrade outlives the runtime side that started it. Let it get into
            # Airflow's migrations, then freeze it there: the restart meets it half done,
            # however fast this machine is.
            orphan = json.loads((runtime.home / "run" / "airflow-command.json").read_text())["pgid"]
            assert process_running(orphan)
            under_way = partial(says, migrations_log, log_offset, "Running downgrade")
            assert wait_for(under_way, timeout=300), text_since(migrations_log, log_offset)
            os.killpg(orphan, signal.SIGSTOP)

        runtime.start(env={"TARMAC_FAILPOINTS_FILE": str(armed)})
        runtime.wait_running(deploy_id, airflow=target[1])
        scheduler = runtime.component_info("scheduler")
        assert scheduler["airflow_version"] == target[1], point
        assert process_running(scheduler["pid"]), point
        live = [d["id"] for d in deploys_list(client, deployment_id) if d["is_current"]]
        assert live == [deploy_id], point
        assert runtime.query("SELECT version_num FROM alembic_version") == [
            (migration_head(target[1]),)
        ], point
        assert runs_before <= successful_runs(runtime), point
        snapshots = snapshot_list(client, deployment_id)
        assert snapshots_before <= {s["id"] for s in snapshots}, point
        assert any(s["deploy_id"] == deploy_id for s in snapshots), point
        desired = client.get(f"/api/v1/deployments/{deployment_id}/runtime/desired").json()
        assert all(Path(location).is_file() for location in desired["snapshot_locations"]), point
        journal = json.loads((runtime.home / "rollout.json").read_text())
        assert journal["in_progress"] is None and journal["reached"]["deploy_id"] == deploy_id
        said = text_since(runtime.log_path, runtime_log_offset)
        if point != "runtime_after_stop":
            assert "restored the metadata snapshot" in said, point
        if orphan is not None:
            assert not process_running(orphan)
            assert f"stopping airflow-command (process group {orphan})" in said
    client.close()


def text_since(path: Path, offset: int) -> str:
    return path.read_bytes()[offset:].decode(errors="replace")


def says(path: Path, offset: int, words: str) -> bool:
    return words in text_since(path, offset)


def snapshot_list(client: httpx.Client, deployment_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/deployments/{deployment_id}/snapshots")
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def deploys_list(client: httpx.Client, deployment_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/deployments/{deployment_id}/deploys")
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]
