"""SQLite writers in one process queue on the write gate, and every way a write
transaction ends lets the next one in (none waits out the lock timeout)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tarmac.db.engine import make_engine, write_gate
from tarmac.db.unit_of_work import Database

TIMEOUT = 5.0


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    engine = make_engine(f"sqlite:///{tmp_path / 'gate.db'}", lock_timeout_seconds=TIMEOUT)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))
    yield Database(engine)
    engine.dispose()


def _write(database: Database, n: int, *, commit: bool = True) -> None:
    with database.session(write=True) as session:
        session.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
        if commit:
            session.commit()


def test_a_queued_writer_waits_on_the_gate_and_gets_in_when_the_holder_commits(
    database: Database,
) -> None:
    gate = write_gate(database.engine)
    assert gate is not None
    done = threading.Event()
    with database.session(write=True) as holder:
        holder.execute(text("INSERT INTO t VALUES (1)"))

        def write_then_say_so() -> None:
            _write(database, 2)
            done.set()

        waiter = threading.Thread(target=write_then_say_so)
        waiter.start()
        deadline = time.monotonic() + TIMEOUT
        while gate.waiting == 0 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert gate.waiting == 1  # queued here, not sleeping in SQLite's busy handler
        assert not done.is_set()
        holder.commit()
    waiter.join(TIMEOUT)
    assert done.is_set()
    assert gate.waiting == 0
    with database.session() as session:
        assert sorted(session.scalars(text("SELECT n FROM t"))) == [1, 2]


@pytest.mark.parametrize("ending", ["rollback", "close", "invalidate", "error"])
def test_every_end_of_a_write_transaction_frees_the_gate(database: Database, ending: str) -> None:
    if ending == "rollback":
        _write(database, 1, commit=False)  # the session rolls back on exit
    elif ending == "close":
        connection = database.engine.connect().execution_options(sqlite_begin="IMMEDIATE")
        connection.execute(text("INSERT INTO t VALUES (1)"))
        connection.close()
    elif ending == "invalidate":
        connection = database.engine.connect().execution_options(sqlite_begin="IMMEDIATE")
        connection.execute(text("INSERT INTO t VALUES (1)"))
        connection.invalidate()  # the gate is free before anyone rolls anything back
        _write(database, 3)
    else:
        with (
            pytest.raises(Exception, match="no such table"),
            database.session(write=True) as session,
        ):
            session.execute(text("INSERT INTO missing VALUES (1)"))
    started = time.monotonic()
    _write(database, 2)
    assert time.monotonic() - started < TIMEOUT  # not a wait for the gate to time out
    gate = write_gate(database.engine)
    assert gate is not None and gate.waiting == 0


def test_a_session_ended_on_another_thread_frees_the_gate(database: Database) -> None:
    """FastAPI may open a route's session on one worker thread and close it on another."""
    context = database.session(write=True)
    session = context.__enter__()
    session.execute(text("INSERT INTO t VALUES (1)"))
    ender = threading.Thread(target=lambda: context.__exit__(None, None, None))
    ender.start()
    ender.join(TIMEOUT)
    started = time.monotonic()
    _write(database, 2)
    assert time.monotonic() - started < TIMEOUT


def test_the_gate_outlives_a_disposed_pool(database: Database) -> None:
    """Engine.dispose() replaces the pool; cleanup's pacer must still find the hooks' gate."""
    gate = write_gate(database.engine)
    database.engine.dispose()
    assert gate is not None and write_gate(database.engine) is gate
