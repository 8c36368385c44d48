"""One exporter at a time across server processes, without holding database locks on I/O.

The exporter must not keep row locks or SQLite's write lock while it waits on
Elasticsearch: SQLite's lock would stall every deploy for the request's duration, and
PostgreSQL row locks would make the JSON-lines writer (``SKIP LOCKED``) pass over fresh
events. So processes take turns with a lock outside the outbox rows instead.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, func, select

EXPORT_LOCK_CLASS = 0x746D6163  # "tmac"; the advisory lock's second key is the schema


@contextmanager
def export_turn(engine: Engine) -> Iterator[bool]:
    """Yield True if this process may export now, False if another exporter is running."""
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine) as acquired:
            yield acquired
        return
    path = _sqlite_lock_path(engine)
    if path is None:  # an in-memory database is private to this process
        yield True
        return
    with _file_lock(path) as acquired:
        yield acquired


@contextmanager
def _advisory_lock(engine: Engine) -> Iterator[bool]:
    # A transaction-level lock: released by the rollback below, or by the server if
    # this process dies, so it can never be left behind on a pooled connection.
    with engine.connect() as connection:
        try:
            # Advisory locks span the database; keying by schema keeps installations that
            # share a database (one schema each) from waiting on each other.
            key = select(
                func.pg_try_advisory_xact_lock(
                    EXPORT_LOCK_CLASS, func.hashtext(func.current_schema())
                )
            )
            yield bool(connection.scalar(key))
        finally:
            connection.rollback()


@contextmanager
def _file_lock(path: Path) -> Iterator[bool]:
    # SQLite lives on one host, so a lock file beside it covers every process using it.
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sqlite_lock_path(engine: Engine) -> Path | None:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database).with_name(Path(database).name + ".export.lock")
