"""Copying SQLite's log into the database in a thread of its own, during a long write.

In WAL mode a commit appends pages to the log, and a checkpoint later copies them into
the database file and flushes it. By default the commit that leaves 1,000 pages in the
log does the checkpoint itself, after it has let go of the write lock but before it
returns. After a cleanup batch (thousands of index pages), that was the next *request*:
measured with bench/cleanup_million.py, its commit took 60-100 ms instead of 1-5.

While a ``WalCheckpointer`` runs, the engine's connections do not checkpoint on commit
(``WriteGate.autocheckpoint_pages`` is 0, applied as each transaction begins): the
checkpointer's thread copies each batch's pages while the next batch and requests go on,
so nobody's commit waits for it, and ``start_over`` lets the log start over from its
beginning before it grows large (the first writer after a complete checkpoint, with no
reader still on the log, writes from the start again).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import Engine

from tarmac.db.engine import write_gate

log = logging.getLogger(__name__)

RETRY_SECONDS = 0.001
"""Pause before checkpointing again when a reader still used pages it would overwrite."""
CATCH_UP_SECONDS = 0.1
"""The longest one ``checkpoint`` tries before it leaves the rest to the next."""


def checkpoint(driver: Any, *, within: float) -> tuple[bool, int]:
    """Checkpoint until every page in the log is in the database, or ``within`` seconds
    pass: whether it is, and the pages in the log. A PASSIVE checkpoint never waits for
    a lock: it stops where a reader still needs a page it would overwrite, or at once
    when another checkpoint is under way (busy), so it is tried again."""
    deadline = time.monotonic() + within
    while True:
        busy, pages, copied = driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if not busy and copied >= pages:
            return True, pages
        if time.monotonic() >= deadline:
            return False, pages
        time.sleep(RETRY_SECONDS)


class WalCheckpointer:
    """A thread that checkpoints the log whenever ``nudge``\\ d, on a connection of its own."""

    def __init__(self, engine: Engine) -> None:
        self._raw = engine.raw_connection()
        self._driver = self._raw.driver_connection
        self._wake = threading.Event()
        self._stopping = False
        self.log_pages = 0
        """Pages in the log at the last checkpoint (it starts over at 0 once copied)."""
        self._thread = threading.Thread(
            target=self._run, name="tarmac-wal-checkpointer", daemon=True
        )
        self._thread.start()

    def nudge(self) -> None:
        """New pages were committed: copy them."""
        self._wake.set()

    def start_over(self, driver: Any) -> None:
        """Copy the whole log on ``driver`` (the caller's connection, outside a
        transaction; after the thread's checkpoint under way, if any), so that the next
        writer writes it from the top, unless a reader is still on it or a writer that
        began before commits first (then a later call tries again).

        Writers go on meanwhile. Measured with bench/cleanup_million.py, making sure of
        the restart made the slowest requests slower: holding the write gate for the
        last pages (their flush took 20-70 ms), or a RESTART checkpoint (SQLite's write
        lock held while readers leave; a queued writer oversleeps it)."""
        copied, pages = checkpoint(driver, within=CATCH_UP_SECONDS)
        self.log_pages = 0 if copied else max(pages, self.log_pages)

    def stop(self) -> None:
        """Checkpoint once more, then end the thread."""
        self._stopping = True
        self._wake.set()
        self._thread.join()
        self._raw.close()

    def _run(self) -> None:
        while True:  # once more after ``stop``: the writer's last pages too
            self._wake.wait()
            self._wake.clear()
            try:
                _, self.log_pages = checkpoint(self._driver, within=CATCH_UP_SECONDS)
            except Exception:  # commits checkpoint again afterwards, as by default
                log.exception("checkpointing the log failed")
            if self._stopping:
                return


@contextmanager
def checkpointing(engine: Engine) -> Iterator[WalCheckpointer]:
    """A ``WalCheckpointer`` for the block; meanwhile commits in this process do not
    checkpoint, and afterwards they do again."""
    gate = write_gate(engine)
    checkpointer = WalCheckpointer(engine)
    try:
        with gate.checkpointed_elsewhere() if gate is not None else nullcontext():
            yield checkpointer
    finally:
        checkpointer.stop()
