"""The Deployment's Airflow metadata database: snapshots, restores and what it holds.

SQLite (the default, one file per Deployment): a snapshot is an online backup through
SQLite's backup API, a restore replaces the file atomically. PostgreSQL: a snapshot is
``CREATE DATABASE … TEMPLATE`` (the components are stopped, so nobody is connected),
a restore swaps the databases back.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from tarmac.db.base import utcnow


@dataclass(frozen=True)
class Snapshot:
    location: str
    size_bytes: int
    airflow_version: str


class MetadataDatabase:
    """One Deployment's metadata database, addressed by its SQLAlchemy URL."""

    def __init__(self, url: str, *, snapshots_dir: Path) -> None:
        parsed = make_url(url)
        if parsed.drivername == "postgresql":  # Airflow's psycopg2 URL; tarmac has psycopg 3
            parsed = parsed.set(drivername="postgresql+psycopg")
        self.url = parsed.render_as_string(hide_password=False)
        self.snapshots_dir = snapshots_dir
        self._parsed = parsed

    @property
    def is_sqlite(self) -> bool:
        return self._parsed.get_backend_name() == "sqlite"

    @property
    def sqlite_path(self) -> Path:
        return Path(self._parsed.database or "")

    def exists(self) -> bool:
        if self.is_sqlite:
            return self.sqlite_path.exists() and self.sqlite_path.stat().st_size > 0
        return self.table_names() != []

    def snapshot(self, *, airflow_version: str) -> Snapshot:
        """A consistent copy, taken while no component runs."""
        self.snapshots_dir.mkdir(parents=True, exist_ok=True)
        stamp = utcnow().strftime("%Y%m%dT%H%M%S")
        name = f"airflow-{airflow_version}-{stamp}-{secrets.token_hex(3)}"
        if self.is_sqlite:
            target = self.snapshots_dir / f"{name}.db"
            partial = target.with_suffix(".db.partial")
            with sqlite3.connect(self.sqlite_path) as source, sqlite3.connect(partial) as copy:
                source.backup(copy)
            with partial.open("rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(partial, target)
            return Snapshot(str(target), target.stat().st_size, airflow_version)
        database = name.replace("-", "_").replace(".", "_")[:63]
        self._admin(f'CREATE DATABASE "{database}" TEMPLATE "{self._parsed.database}"')
        size = self._admin_scalar(f"SELECT pg_database_size('{database}')")
        return Snapshot(f"postgresql-database:{database}", int(str(size or 0)), airflow_version)

    def restore(self, location: str) -> None:
        """Put a snapshot back in place of the database (components must be stopped)."""
        if self.is_sqlite:
            source = Path(location)
            if not source.exists():
                raise FileNotFoundError(f"snapshot {location} is gone")
            staged = self.sqlite_path.with_name(f".restore-{secrets.token_hex(4)}.db")
            with sqlite3.connect(source) as snapshot, sqlite3.connect(staged) as copy:
                snapshot.backup(copy)
            for suffix in ("-wal", "-shm", "-journal"):
                Path(f"{self.sqlite_path}{suffix}").unlink(missing_ok=True)
            os.replace(staged, self.sqlite_path)
            return
        template = location.removeprefix("postgresql-database:")
        live = self._parsed.database
        self._admin(f'DROP DATABASE IF EXISTS "{live}" WITH (FORCE)')
        self._admin(f'CREATE DATABASE "{live}" TEMPLATE "{template}"')

    def discard_partial_snapshots(self) -> None:
        """Remove copies a killed snapshot left half-written (never recorded anywhere)."""
        for path in self.snapshots_dir.glob("*.partial") if self.snapshots_dir.exists() else []:
            path.unlink(missing_ok=True)

    def delete_snapshot(self, location: str) -> None:
        if location.startswith("postgresql-database:"):
            name = location.removeprefix("postgresql-database:")
            self._admin(f'DROP DATABASE IF EXISTS "{name}"')
        else:
            Path(location).unlink(missing_ok=True)

    def table_names(self) -> list[str]:
        engine = create_engine(self.url)
        try:
            return sorted(inspect(engine).get_table_names())
        finally:
            engine.dispose()

    def facts(self) -> dict[str, Any]:
        """Row counts per table, and the rows a downgrade is known to move aside or trip on."""
        engine = create_engine(self.url)
        try:
            with engine.connect() as connection:
                tables = sorted(inspect(connection).get_table_names())
                counts = {
                    table: int(
                        connection.execute(text(f'SELECT COUNT(*) FROM "{table}"')).scalar() or 0
                    )
                    for table in tables
                    if table != "alembic_version"
                }
                facts: dict[str, Any] = {
                    "dialect": engine.dialect.name,
                    "row_counts": counts,
                    "measured_at": utcnow().isoformat(),
                }
                columns = (
                    {c["name"] for c in inspect(connection).get_columns("dag_run")}
                    if "dag_run" in tables
                    else set()
                )

                def count(sql: str) -> int:
                    return int(connection.execute(text(sql)).scalar() or 0)

                if "logical_date" in columns:  # Airflow 3
                    # The runs a downgrade below 3.0 keeps (the others it moves aside).
                    facts["dag_runs_with_conf"] = count(
                        "SELECT COUNT(*) FROM dag_run"
                        " WHERE conf IS NOT NULL AND logical_date IS NOT NULL"
                    )
                    facts["dag_runs_without_logical_date"] = count(
                        "SELECT COUNT(*) FROM dag_run WHERE logical_date IS NULL"
                    )
                if "logical_date" in columns and "task_instance" in tables:
                    facts["task_instances_of_runs_without_logical_date"] = count(
                        "SELECT COUNT(*) FROM task_instance ti JOIN dag_run r"
                        " ON r.dag_id = ti.dag_id AND r.run_id = ti.run_id"
                        " WHERE r.logical_date IS NULL"
                    )
                return facts
        finally:
            engine.dispose()

    def _admin(self, statement: str) -> None:
        engine = create_engine(self._parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(statement))
        finally:
            engine.dispose()

    def _admin_scalar(self, statement: str) -> object:
        engine = create_engine(self._parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                return connection.execute(text(statement)).scalar()
        finally:
            engine.dispose()
