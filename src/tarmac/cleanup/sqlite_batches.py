"""Deleting expired deploy records on SQLite: one connection for the whole pass, and
every batch done inside SQLite, with no row of it passing through Python."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Column, Connection, MetaData, String, Table, delete, insert, select, update

from tarmac.cleanup.revisions import DEPENDENTS, Batch, Cursor, batch_query, rowcount
from tarmac.db.base import UTCDateTime
from tarmac.db.unit_of_work import Database
from tarmac.db.wal_checkpointer import WalCheckpointer, checkpointing
from tarmac.deploys.models import Deploy

RESTART_AFTER_PAGES = 40_000
"""Pages (160 MiB) the log may hold before a batch waits for it to be copied and started over."""
BATCH_CACHE_KIB = 65_536
"""SQLite's page cache for the batches: the default 2 MiB cannot hold the index pages one
batch rewrites, so it read them back from the OS as it went (a fifth of the time)."""
DEFAULT_CACHE_KIB = 2_000

BATCH = Table(
    "cleanup_batch",
    MetaData(),
    Column("id", String(32)),
    Column("created_at", UTCDateTime()),
    prefixes=["TEMPORARY"],
)
"""The deploys of the batch under way, in the connection's own temporary (in-memory) table."""


class SqliteBatches:
    """Deletes expired deploys a batch at a time on one connection, held for the pass.

    **Inside SQLite.** A batch is one ``INSERT … SELECT`` of its deploys into ``BATCH``
    (the keyset range over ``created_at, id``), one statement per dependent table and one
    DELETE, each reading its ids from ``BATCH``. Python sees only the batch's size and
    last row. Before, every id went through Python as a row and back as a bind parameter
    of an IN list: half the CPU time of a pass, all of it holding the GIL that the
    server's request threads wait for.

    **Foreign keys.** SQLite enforces them row by row (a search of every referencing
    table for each deleted deploy); this connection turns that off and does each
    ``DEPENDENTS`` action set-based instead. Nobody else can write meanwhile, and the
    deploys in ``BATCH`` are exactly those deleted, so the result is the same.

    **Durability.** Commits do not wait for an fsync of the log (``synchronous=NORMAL``)
    while they hold the write lock: a batch lost to a power cut only means its deploys
    are deleted by the next run, and the next commit with a flush (any request's, or the
    bundle pass's, which deletes files only after its own) makes every earlier one in the
    log durable first.

    **Checkpoints.** No commit in the process checkpoints the log during the pass: a
    ``WalCheckpointer`` thread copies each batch's pages into the database while the next
    batch and requests go on. A batch dirties index pages all over the file (deploy ids
    are random), and with SQLite's automatic checkpoint the next request's commit copied
    them, taking 60-100 ms. Once the log holds ``RESTART_AFTER_PAGES``, a batch first
    waits until it is all copied, without the lock, so that the next writer starts it
    over instead of making it longer (``WalCheckpointer.start_over``).

    The connection's settings are put back once, at the end of the pass (shrinking the
    page cache after every batch cost 7 ms a batch); a connection whose settings could
    not be put back is thrown away, never handed to anyone else.
    """

    def __init__(self, connection: Connection, checkpointer: WalCheckpointer) -> None:
        self._connection = connection.execution_options(sqlite_begin="IMMEDIATE")
        self._checkpointer = checkpointer
        driver = connection.connection.driver_connection
        assert driver is not None
        self._driver = driver

    def delete(self, *, cutoff: datetime, batch_size: int, after: Cursor | None) -> Batch:
        """Delete up to ``batch_size`` expired deploys after ``after``."""
        connection = self._connection
        if self._checkpointer.log_pages >= RESTART_AFTER_PAGES:
            self._checkpointer.start_over(self._driver)
        started = time.monotonic()
        with connection.begin():
            connection.execute(delete(BATCH))
            chosen = batch_query(cutoff=cutoff, batch_size=batch_size, after=after)
            selected = rowcount(
                connection.execute(insert(BATCH).from_select(["id", "created_at"], chosen))
            )
            if not selected:
                return Batch(0, None, time.monotonic() - started)
            in_batch = select(BATCH.c.id).scalar_subquery()
            for column, action in DEPENDENTS:
                statement = (
                    delete(column.class_)
                    if action == "cascade"
                    else update(column.class_).values({column.key: None})
                )
                connection.execute(statement.where(column.in_(in_batch)))
            deleted = rowcount(connection.execute(delete(Deploy).where(Deploy.id.in_(in_batch))))
            last = connection.execute(
                select(BATCH.c.created_at, BATCH.c.id)
                .order_by(BATCH.c.created_at.desc(), BATCH.c.id.desc())
                .limit(1)
            ).one()
        locked = time.monotonic() - started
        self._checkpointer.nudge()
        return Batch(deleted, (last.created_at, last.id), locked)


@contextmanager
def sqlite_batches(database: Database) -> Iterator[SqliteBatches]:
    """A connection set up for the batches (and put back afterwards) for one pass."""
    with database.engine.connect() as connection:
        driver = connection.connection.driver_connection
        assert driver is not None
        # Outside a transaction, or foreign_keys is a no-op.
        driver.execute("PRAGMA foreign_keys=OFF")
        driver.execute("PRAGMA synchronous=NORMAL")
        driver.execute(f"PRAGMA cache_size=-{BATCH_CACHE_KIB}")
        driver.execute("PRAGMA temp_store=MEMORY")
        try:
            with checkpointing(database.engine) as checkpointer:
                BATCH.create(connection)
                connection.commit()
                yield SqliteBatches(connection, checkpointer)
        finally:
            try:
                if connection.in_transaction():
                    connection.rollback()
                BATCH.drop(connection, checkfirst=True)
                connection.commit()
                driver.execute("PRAGMA foreign_keys=ON")
                driver.execute("PRAGMA synchronous=FULL")
                driver.execute(f"PRAGMA cache_size=-{DEFAULT_CACHE_KIB}")
                driver.execute("PRAGMA temp_store=DEFAULT")
            except BaseException:
                connection.invalidate()
                raise
