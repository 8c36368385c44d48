"""A real Airflow on a PostgreSQL metadata database: 3.1 → 2.10 → 3.1 by `tarmac runtime run`.

What differs from SQLite (test_runtime_rollback.py) is checked here, against the
database itself: snapshots are template copies of the database, Airflow 2 runs with
its standalone DAG processor and LocalExecutor, and the downgrade erases the task
instances of the runs it moves aside (the foreign key cascades), as the plan says.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tests.airflow.runtime_process import (
    RuntimeProcess,
    airflow_cli,
    migration_head,
    pid_alive,
    wait_for,
)
from tests.airflow.test_runtime_rollback import (
    AIRFLOW_2,
    AIRFLOW_3,
    COMPONENTS,
    create_deployment,
    image_deploy,
    rollback,
    settled,
    successful_runs,
)
from tests.support.process import ServerProcess
from tests.support.requirements import cannot_run

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.postgres]

POSTGRES_URL_ENV = "TARMAC_TEST_POSTGRES_URL"
TIS = "SELECT dag_id, run_id, task_id FROM task_instance"


@pytest.fixture
def warehouse_on_postgres(server: ServerProcess, tmp_path: Path) -> Iterator[Any]:
    """A Deployment whose runtime side keeps Airflow's metadata in a new PostgreSQL database.

    Afterwards the database and every snapshot database the server lists are dropped.
    """
    base = os.environ.get(POSTGRES_URL_ENV)
    if not base:
        cannot_run(f"{POSTGRES_URL_ENV} is not set")
    name = f"tarmac_airflow_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        make_url(base).set(drivername="postgresql+psycopg", database="postgres"),
        isolation_level="AUTOCOMMIT",
    )
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        cannot_run(f"PostgreSQL at {POSTGRES_URL_ENV} is not reachable: {exc}")
    # As Airflow takes it (psycopg2, in the environments built for PostgreSQL).
    url = make_url(base).set(drivername="postgresql", database=name)
    out = tmp_path / "task-out"
    out.mkdir()
    with server.client() as client:
        deployment_id = create_deployment(client, out)
    runtime = RuntimeProcess(
        server,
        deployment_id=deployment_id,
        home=tmp_path / "home",
        components=COMPONENTS,
        database_url=url.render_as_string(hide_password=False),
    )
    try:
        yield deployment_id, runtime
    finally:
        if runtime.process is not None:
            runtime.stop()
        with server.client() as client:
            desired = client.get(f"/api/v1/deployments/{deployment_id}/runtime/desired").json()
        snapshots = [
            location.removeprefix("postgresql-database:")
            for location in desired.get("snapshot_locations") or []
        ]
        with admin.connect() as connection:
            for database in [name, *snapshots]:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


def databases(runtime: RuntimeProcess) -> set[str]:
    return {row[0] for row in runtime.query("SELECT datname FROM pg_database")}


def test_a_postgresql_metadata_database_rolls_back_from_airflow_3_to_2_and_forward(
    server: ServerProcess, warehouse_on_postgres: Any
) -> None:
    deployment_id, runtime = warehouse_on_postgres
    client = server.client()
    d1 = image_deploy(client, deployment_id, AIRFLOW_2[0], "v1")
    d2 = image_deploy(client, deployment_id, AIRFLOW_3[0], "v2")
    runtime.start()
    runtime.wait_running(d2, airflow=AIRFLOW_3[1])
    assert wait_for(lambda: len(successful_runs(runtime)) >= 2, timeout=300), runtime.log()
    # A manual run: on Airflow 3 it has no logical date, so Airflow 2 cannot hold it.
    airflow_cli(runtime, AIRFLOW_3[1], "dags", "trigger", "nightly_load")
    manual_done = "SELECT COUNT(*) FROM dag_run WHERE logical_date IS NULL AND state = 'success'"
    assert wait_for(
        lambda: runtime.query(manual_done)[0][0] == 1 and settled(runtime, asset_runs=0),
        timeout=300,
    ), runtime.log()
    settled_at = datetime.now(UTC)
    runless = "SELECT run_id FROM dag_run WHERE logical_date IS NULL"
    moved_runs = {row[0] for row in runtime.query(runless)}
    kept = "SELECT run_id FROM dag_run WHERE logical_date IS NOT NULL"
    kept_runs = {row[0] for row in runtime.query(kept)}
    tis = set(runtime.query(TIS))
    erased_tis = {ti for ti in tis if ti[1] in moved_runs}
    kept_tis = tis - erased_tis
    assert len(moved_runs) == 1 and erased_tis and len(kept_runs) >= 2

    # The plan, from the facts the runtime side reported of the settled database.
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
    assert counts.get("dag_version", 0) >= 1, counts
    for table, count in counts.items():
        assert runtime.query(f'SELECT COUNT(*) FROM "{table}"')[0][0] == count, table
    risks = {r["code"]: r["rows"] for r in data_loss["downgrade_risks"]}
    assert risks["dag_runs_moved_aside"] == len(moved_runs)
    assert risks["task_instances_erased_with_runs"] == len(erased_tis)
    assert "task_instances_left_without_run" not in risks  # SQLite only

    # Roll back to 2.10: a template copy, `db downgrade` with 3.1, then 2.10 starts.
    response = rollback(client, deployment_id, d1, acknowledge=["data_loss"])
    assert response.status_code == 201, response.text
    d3 = str(response.json()["id"])
    runtime.wait_running(d3, airflow=AIRFLOW_2[1])
    scheduler = runtime.component_info("scheduler")
    assert scheduler["airflow_version"] == AIRFLOW_2[1] and pid_alive(scheduler["pid"])
    assert runtime.component_info("dag-processor")["airflow_version"] == AIRFLOW_2[1]
    migrations = (runtime.home / "logs" / "migrations.log").read_text()
    assert "db downgrade --to-version 2.10.5" in migrations
    revision = "SELECT version_num FROM alembic_version"
    assert runtime.query(revision) == [(migration_head(AIRFLOW_2[1]),)]
    snapshots = client.get(f"/api/v1/deployments/{deployment_id}/snapshots").json()["items"]
    assert [(s["deploy_id"], s["airflow_version"]) for s in snapshots] == [(d3, AIRFLOW_3[1])]
    assert snapshots[0]["size_bytes"] > 0
    desired = client.get(f"/api/v1/deployments/{deployment_id}/runtime/desired").json()
    (location,) = desired["snapshot_locations"]
    assert location.removeprefix("postgresql-database:") in databases(runtime)
    assert wait_for(
        lambda: (
            runtime.query("SELECT name FROM dag_tag WHERE dag_id = 'nightly_load'") == [("v1",)]
        ),
        timeout=180,
    ), runtime.log()

    # What the downgrade did is what the plan said.
    offending = "_airflow_moved__3_0_0__offending_dag_run"
    assert {row[0] for row in runtime.query(f"SELECT run_id FROM {offending}")} == moved_runs
    runs = {row[0] for row in runtime.query("SELECT run_id FROM dag_run")}
    assert kept_runs <= runs and not moved_runs & runs
    after_downgrade = set(runtime.query(TIS))
    assert kept_tis <= after_downgrade and not erased_tis & after_downgrade
    moved_tables = "SELECT tablename FROM pg_tables WHERE tablename LIKE '\\_tarmac\\_moved%'"
    assert runtime.query(moved_tables) == []  # erased by the cascade, not moved by tarmac

    # Forward again to 3.1: `db migrate`; the runs (and their tasks) both versions know stay.
    response = rollback(client, deployment_id, d2)
    assert response.status_code == 201, response.text
    d4 = str(response.json()["id"])
    runtime.wait_running(d4, airflow=AIRFLOW_3[1])
    assert runtime.component_info("scheduler")["airflow_version"] == AIRFLOW_3[1]
    assert runtime.query(revision) == [(migration_head(AIRFLOW_3[1]),)]
    runs = {row[0] for row in runtime.query("SELECT run_id FROM dag_run")}
    assert kept_runs <= runs and not moved_runs & runs
    assert kept_tis <= set(runtime.query(TIS))
    client.close()
