"""Engines for the embedded SQLite default and for PostgreSQL."""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import SQLAlchemyError

from tarmac.db.write_gate import WriteGate
from tarmac.errors import ConfigurationError

WRITE_GATE = "tarmac_write_gate"
"""Set in a connection's ``info`` while its transaction holds the write gate."""
AUTOCHECKPOINT = "tarmac_wal_autocheckpoint"
"""A connection's ``wal_autocheckpoint`` as last set, in its ``info``."""
_GATES: weakref.WeakKeyDictionary[Dialect, WriteGate] = weakref.WeakKeyDictionary()


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

    gate = WriteGate(timeout_seconds=lock_timeout_seconds)
    # Keyed by the dialect: Engine.dispose() replaces the pool but keeps the dialect.
    _GATES[engine.dialect] = gate

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers start IMMEDIATE: they queue on the write lock (busy timeout) instead of
        # failing when a deferred transaction tries to upgrade its lock; in this process
        # they queue on the gate first (``write_gate.py``).
        pages = gate.autocheckpoint_pages
        if connection.info.get(AUTOCHECKPOINT, WriteGate.DEFAULT_AUTOCHECKPOINT_PAGES) != pages:
            connection.exec_driver_sql(f"PRAGMA wal_autocheckpoint={pages}")
            connection.info[AUTOCHECKPOINT] = pages
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        if mode == "IMMEDIATE" and gate.enter():
            connection.info[WRITE_GATE] = True
        try:
            connection.exec_driver_sql(f"BEGIN {mode}")
        except BaseException:
            _leave_gate(connection.info)
            raise

    def _leave_gate(info: dict[str, Any]) -> None:
        if info.pop(WRITE_GATE, False):
            gate.leave()

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(connection: Any) -> None:
        # Just before the COMMIT or ROLLBACK: the next writer is woken now and meets
        # SQLite's lock for at most the rest of this statement.
        _leave_gate(connection.info)

    @event.listens_for(engine, "checkin")
    @event.listens_for(engine, "invalidate")
    def _on_return(_dbapi_connection: Any, record: Any, *_exc: Any) -> None:
        # A connection that went back, or away, without either (its ROLLBACK came from
        # the pool) never keeps the gate.
        _leave_gate(record.info)

    return engine


def write_gate(engine: Engine) -> WriteGate | None:
    """The SQLite engine's in-process write queue (None on PostgreSQL)."""
    return _GATES.get(engine.dialect)


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
