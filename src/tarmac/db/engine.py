"""Engines for the embedded SQLite default and for PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from tarmac.errors import ConfigurationError


def normalise_database_url(url: str) -> str:
    """Route ``postgresql://`` URLs to psycopg 3, the driver tarmac ships with."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, lock_timeout_seconds: float = 10.0) -> Engine:
    """An engine with SQLite in WAL mode with foreign keys, or PostgreSQL via psycopg 3."""
    url = normalise_database_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url, lock_timeout_seconds=lock_timeout_seconds)
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_engine(url: str, *, lock_timeout_seconds: float) -> Engine:
    engine = create_engine(
        url,
        connect_args={"timeout": lock_timeout_seconds, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE can be issued.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers start IMMEDIATE: they queue on the write lock (busy timeout) instead of
        # failing when a deferred transaction tries to upgrade its lock.
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def check_database(url: str) -> None:
    """Connect once; a ConfigurationError names the database (without its password)."""
    shown = make_url(normalise_database_url(url)).render_as_string(hide_password=True)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise ConfigurationError(f"cannot use the database {shown}: {reason}") from exc
    finally:
        engine.dispose()
