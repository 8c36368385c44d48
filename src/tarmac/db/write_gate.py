"""An in-process queue in front of SQLite's one write lock.

SQLite has no queue for its write lock: a writer that finds it taken sleeps in steps
(1, 2, 5, 10, 15, 20, 25 ms, then 50 and 100 ms) and tries again, so it can sleep on for
tens of milliseconds after the lock was let go, and a busy writer taking the lock back
at once can starve it. Every writer of tarmac's database is in the server process, so
they queue here first: a thread about to ``BEGIN IMMEDIATE`` waits on this gate and is
woken the moment the holder commits or rolls back, and only then meets SQLite's lock
(free, or held for the last instant of a commit). Long batches (cleanup) look at
``waiting`` to let queued writers in between them.

Writers in other processes (a CLI on the same file) still meet only SQLite's lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class WriteGate:
    DEFAULT_AUTOCHECKPOINT_PAGES = 1000
    """SQLite's default: a commit that leaves this many pages in the log checkpoints it."""

    def __init__(self, *, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        self._checkpointers = 0
        # Not an RLock: FastAPI may begin a session on one worker thread and end it on
        # another, and only a plain lock may be released by a thread that did not take it.
        self._lock = threading.Lock()
        self._count = threading.Lock()
        self._waiting = 0

    @property
    def autocheckpoint_pages(self) -> int:
        """What this process's connections use, set as each transaction begins: 0 while
        any ``WalCheckpointer`` copies the log instead (``tarmac.db.wal_checkpointer``)."""
        return 0 if self._checkpointers else self.DEFAULT_AUTOCHECKPOINT_PAGES

    @contextmanager
    def checkpointed_elsewhere(self) -> Iterator[None]:
        """Commits do not checkpoint during the block (blocks may overlap: two cleanups)."""
        with self._count:
            self._checkpointers += 1
        try:
            yield
        finally:
            with self._count:
                self._checkpointers -= 1

    @property
    def waiting(self) -> int:
        """Threads queued for the gate right now."""
        return self._waiting

    def enter(self) -> bool:
        """Queue for the gate; False if it stayed taken for the whole timeout (the caller
        then meets SQLite's lock as before, which times out the same way)."""
        with self._count:
            self._waiting += 1
        try:
            return self._lock.acquire(timeout=self.timeout_seconds)
        finally:
            with self._count:
                self._waiting -= 1

    def leave(self) -> None:
        self._lock.release()
