"""A Deployment's metadata database on PostgreSQL: snapshot by template, restore, facts."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tarmac.local_runtime.metadata_db import MetadataDatabase

pytestmark = pytest.mark.postgres


@pytest.fixture
def airflow_db() -> Iterator[str]:
    base = os.environ.get("TARMAC_TEST_POSTGRES_URL")
    if not base:
        if os.environ.get("TARMAC_REQUIRE_POSTGRES"):
            pytest.fail("TARMAC_TEST_POSTGRES_URL is not set but TARMAC_REQUIRE_POSTGRES is")
        pytest.skip("TARMAC_TEST_POSTGRES_URL is not set")
    name = f"airflow_{uuid.uuid4().hex[:10]}"
    admin_url = make_url(base).set(drivername="postgresql+psycopg", database="postgres")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE dag_run (id INT, logical_date TEXT, conf TEXT)"))
        connection.execute(
            text("INSERT INTO dag_run VALUES (1, NULL, '{}'), (2, 'x', NULL), (3, 'y', '{}')")
        )
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as connection:
            rows = connection.execute(
                text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                {"p": f"{name}%"},
            ).all()
            for (database,) in rows:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


def _count(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT COUNT(*) FROM dag_run")).scalar() or 0)
    finally:
        engine.dispose()


def test_a_template_snapshot_restores_the_database_as_it_was(
    airflow_db: str, tmp_path: Path
) -> None:
    database = MetadataDatabase(airflow_db, snapshots_dir=tmp_path)
    facts = database.facts()
    assert facts["dialect"] == "postgresql"
    assert facts["row_counts"] == {"dag_run": 3}
    assert facts["dag_runs_without_logical_date"] == 1
    # Only the runs a downgrade keeps (run 1, without a logical date, is moved aside).
    assert facts["dag_runs_with_conf"] == 1
    snapshot = database.snapshot(airflow_version="3.1.8")
    assert snapshot.location.startswith("postgresql-database:")
    assert snapshot.size_bytes > 0
    engine = create_engine(airflow_db)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM dag_run"))
    engine.dispose()
    assert _count(airflow_db) == 0
    database.restore(snapshot.location)
    assert _count(airflow_db) == 3
    database.delete_snapshot(snapshot.location)
