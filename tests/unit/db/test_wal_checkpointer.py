"""While a WalCheckpointer runs, commits leave the log to its thread (none of them pays for
copying a cleanup batch's pages), the log still ends up in the database, starts over
when asked, and afterwards commits checkpoint as SQLite does by default."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tarmac.db.engine import make_engine
from tarmac.db.unit_of_work import Database
from tarmac.db.wal_checkpointer import checkpointing

TIMEOUT = 10.0
BIG = 8 * 1024 * 1024  # about 2,000 pages: past SQLite's automatic checkpoint (1,000)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "log.db"


@pytest.fixture
def database(path: Path) -> Iterator[Database]:
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (data BLOB)"))
    yield Database(engine)
    engine.dispose()


def _write(database: Database, size: int) -> int:
    """Commit a row of ``size`` bytes; the connection's wal_autocheckpoint meanwhile."""
    with database.session(write=True) as session:
        pages = session.scalar(text("PRAGMA wal_autocheckpoint"))
        session.execute(text("INSERT INTO t VALUES (randomblob(:n))"), {"n": size})
        session.commit()
    assert pages is not None
    return int(pages)


def _log_pages(database: Database) -> int:
    """Pages in the log (copying them, which changes nothing a test looks at after)."""
    with database.engine.connect() as connection:
        driver = connection.connection.driver_connection
        assert driver is not None
        _, pages, _ = driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(pages)


def _wait_for(condition: object) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)
    assert condition()  # type: ignore[operator]


def test_commits_leave_the_log_to_the_checkpointer_thread(database: Database, path: Path) -> None:
    before = path.stat().st_size
    with checkpointing(database.engine) as checkpointer:
        assert _write(database, BIG) == 0
        # Without the checkpointer that commit would have copied its pages in itself.
        assert path.stat().st_size == before
        checkpointer.nudge()
        _wait_for(lambda: checkpointer.log_pages > 1000)  # what it found and copied
        assert path.stat().st_size > before + BIG
    assert _write(database, 10) == 1000  # SQLite's default again
    assert not [t for t in threading.enumerate() if t.name == "tarmac-wal-checkpointer"]


def test_start_over_lets_the_next_writer_write_the_log_from_the_top(database: Database) -> None:
    with checkpointing(database.engine) as checkpointer:
        _write(database, BIG)
        with database.engine.connect() as connection:
            checkpointer.start_over(connection.connection.driver_connection)
        assert checkpointer.log_pages == 0
        _write(database, 10)
        assert _log_pages(database) < 10  # not after the 2,000 pages of the first commit


def test_the_last_pages_are_copied_when_the_checkpointer_stops(
    database: Database, path: Path
) -> None:
    before = path.stat().st_size
    with checkpointing(database.engine):
        _write(database, BIG)
    assert path.stat().st_size > before + BIG


def test_overlapping_checkpointers_keep_commits_off_until_the_last_ends(
    database: Database,
) -> None:
    with checkpointing(database.engine):
        with checkpointing(database.engine):  # two cleanups at once (API and schedule)
            assert _write(database, 10) == 0
        assert _write(database, 10) == 0
    assert _write(database, 10) == 1000
