"""Cleanup of deploy revisions (DESIGN.md §3 rule 13, §4 "Pinned deploys").

Three passes of short transactions: expired deploy records (never a live or pinned
one), then bundles no deploy references (record, blob, unpacked dir), then files with
no bundle record. Why a bundle never goes under a deploy that is about to use it:
``docs/cleanup.md``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tarmac.bundles.blob_store import BlobStore
from tarmac.cleanup.bundle_files import BundleFiles
from tarmac.cleanup.bundles import (
    BundleCounts,
    BundleWindow,
    count_deletable_bundles,
    delete_orphan_files,
    delete_unreferenced_bundles,
)
from tarmac.cleanup.revisions import Cursor, PostgresBatches, count_expired
from tarmac.cleanup.sqlite_batches import SqliteBatches, sqlite_batches
from tarmac.db.base import utcnow
from tarmac.db.engine import write_gate
from tarmac.db.unit_of_work import Database
from tarmac.db.write_gate import WriteGate
from tarmac.errors import InvalidRequest
from tarmac.events.ecs import ecs_event
from tarmac.events.service import record_event
from tarmac.failpoints import failpoint
from tarmac.rollouts.snapshots import prune_orphan_snapshots

DEFAULT_BATCH_SIZE = 20_000
"""The most deploys one transaction deletes; ``BatchSizer`` keeps batches shorter in time."""
BUNDLE_BATCH_SIZE = 500
"""The most bundles one transaction deletes (each also renames and removes files)."""
DEFAULT_GRACE_SECONDS = 3600.0
IN_USE_MARGIN_SECONDS = 60.0
MAX_OLDER_THAN_DAYS = 36_500
MAX_PAUSE_SECONDS = 0.03
FIRST_DEPLOY_BATCH = 500
LEAST_DEPLOY_BATCH = 100
TARGET_BATCH_SECONDS = {"sqlite": 0.034, "postgresql": 0.015}
"""How long one batch of deploys should hold its locks, by database.

A write request waits for the batch under way (SQLite's one write lock; on PostgreSQL the
row locks of the Deployments it touches), then for its own commit. Measured with
bench/cleanup_million.py, 1 M deploys on 2 cores: on PostgreSQL 30 ms batches left the
slowest requests at 103-116 ms in 30 s, 15 ms at 84-107 ms in 33-42 s. On SQLite, once
requests no longer checkpointed the log (``tarmac.db.wal_checkpointer``): 30 ms batches
took 50-62 s with the slowest write at 58-73 ms, 34 ms 54 s and 63 ms, 38-45 ms 48-52 s
but 85-89 ms."""


@dataclass(frozen=True)
class CleanupReport:
    """What a cleanup deleted (or, for a dry run, would delete)."""

    older_than_days: int
    dry_run: bool
    cutoff: datetime
    deleted_deploys: int
    deleted_blobs: int
    deleted_bundle_records: int
    deleted_unpacked_dirs: int
    kept_in_use_bundles: int
    duration_seconds: float

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["cutoff"] = self.cutoff.isoformat()
        return data


def in_use_window(*, grace_seconds: float, deploy_lock_timeout_seconds: float) -> float:
    """How recently touched files count as in use: never less than a deploy's lock wait."""
    return max(grace_seconds, deploy_lock_timeout_seconds + IN_USE_MARGIN_SECONDS)


def check_older_than_days(value: int) -> int:
    if not 0 <= value <= MAX_OLDER_THAN_DAYS:
        raise InvalidRequest(
            f"older_than_days must be between 0 and {MAX_OLDER_THAN_DAYS}", field="older_than_days"
        )
    return value


def cleanup_deploy_revisions(
    *,
    database: Database,
    blob_store: BlobStore,
    bundles_dir: Path | None,
    older_than_days: int,
    dry_run: bool,
    actor: str | None,
    now: datetime | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    in_use_seconds: float = DEFAULT_GRACE_SECONDS,
    on_batch: Callable[[], None] | None = None,
) -> CleanupReport:
    """Delete expired deploys, then unreferenced bundles; commits a batch at a time.

    ``on_batch`` runs after every batch (the scheduler renews its lease there; raising
    stops the cleanup). A real run records one ``cleanup.deploy_revisions`` event.
    """
    started = time.monotonic()
    now = now or utcnow()
    check_older_than_days(older_than_days)
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    cutoff = now - timedelta(days=older_than_days)
    files = BundleFiles(blob_store=blob_store, bundles_dir=bundles_dir)
    window = BundleWindow(
        record_cutoff=now - timedelta(seconds=grace_seconds),
        fresh_after=now.timestamp() - max(grace_seconds, in_use_seconds),
    )
    if dry_run:
        with database.session() as session:
            deploys = count_expired(session, cutoff=cutoff)
            bundles = count_deletable_bundles(
                session, files=files, window=window, deploy_cutoff=cutoff
            )
    else:
        tick = BatchPacer(
            on_batch=on_batch or (lambda: None),
            sqlite=database.engine.dialect.name == "sqlite",
            gate=write_gate(database.engine),
        )
        deploys = _delete_expired_deploys(
            database, cutoff=cutoff, batch_size=batch_size, on_batch=tick
        )
        bundle_batch = min(batch_size, BUNDLE_BATCH_SIZE)
        bundles = delete_unreferenced_bundles(
            database, files=files, window=window, batch_size=bundle_batch, on_batch=tick
        )
        bundles.add(
            delete_orphan_files(
                database, files=files, window=window, batch_size=bundle_batch, on_batch=tick
            )
        )
        files.remove_stale_tombstones(older_than=window.fresh_after)
        with database.session(write=True) as session:
            prune_orphan_snapshots(session)
            session.commit()
    report = _report(
        older_than_days=older_than_days,
        dry_run=dry_run,
        cutoff=cutoff,
        deploys=deploys,
        bundles=bundles,
        duration=time.monotonic() - started,
    )
    if not dry_run:
        _record_cleanup_event(database, report=report, actor=actor)
    return report


class BatchPacer:
    """Runs after every batch; on SQLite it then lets queued writers take the lock first.

    SQLite's write lock has no queue of its own, so a cleanup that took it again at once
    could starve requests. In the server's process writers queue on the engine's write
    gate (``tarmac.db.write_gate``): the pacer waits until none is queued (they have the
    lock, or had it), at most ``MAX_PAUSE_SECONDS``, and not at all when nobody waits.
    Without a gate it pauses as long as the batch held the lock, up to that bound.
    """

    def __init__(
        self, *, on_batch: Callable[[], None], sqlite: bool, gate: WriteGate | None = None
    ) -> None:
        self._on_batch = on_batch
        self._sqlite = sqlite
        self._gate = gate
        self._since = time.monotonic()

    def __call__(self, locked_seconds: float | None = None) -> None:
        """``locked_seconds``: how long the batch held the lock, if it let go of it before
        it returned (the rest of the time since the last call writers could already use)."""
        busy = time.monotonic() - self._since
        locked = busy if locked_seconds is None else min(locked_seconds, busy)
        self._on_batch()
        if self._gate is not None:
            deadline = time.monotonic() + MAX_PAUSE_SECONDS
            while self._gate.waiting and time.monotonic() < deadline:
                time.sleep(0.001)
        elif self._sqlite:
            time.sleep(max(0.0, min(locked, MAX_PAUSE_SECONDS) - (busy - locked)))
        self._since = time.monotonic()


class BatchSizer:
    """How many deploys the next batch takes: as many as fit in ``target_seconds``.

    A transaction holds locks (SQLite's write lock; the Deployments' row locks on
    PostgreSQL) that requests wait for, so batches are kept short in time, not in rows:
    the size follows the last batch's pace, at most doubling or halving at once, within
    ``LEAST_DEPLOY_BATCH`` (so a slow machine still makes progress, not one commit per
    deploy) and ``most``.
    """

    def __init__(self, most: int, *, target_seconds: float) -> None:
        self.most = most
        self.target_seconds = target_seconds
        self.size = min(most, FIRST_DEPLOY_BATCH)

    def next(self, *, deleted: int, seconds: float) -> int:
        if deleted >= self.size and seconds > 0:
            fitting = int(self.size * self.target_seconds / seconds)
            least = min(self.most, LEAST_DEPLOY_BATCH)
            self.size = max(least, self.size // 2, min(self.most, self.size * 2, fitting))
        return self.size


def _delete_expired_deploys(
    database: Database, *, cutoff: datetime, batch_size: int, on_batch: BatchPacer
) -> int:
    deleted = 0
    cursor: Cursor | None = None
    sizer = BatchSizer(batch_size, target_seconds=target_batch_seconds(database))
    size = sizer.size
    with _deploy_batches(database) as batches:
        while True:
            batch = batches.delete(cutoff=cutoff, batch_size=size, after=cursor)
            deleted += batch.deleted
            cursor = batch.cursor
            if cursor is None:
                return deleted
            size = sizer.next(deleted=batch.deleted, seconds=batch.locked_seconds)
            failpoint("cleanup_after_batch")
            on_batch(batch.locked_seconds)


def target_batch_seconds(database: Database) -> float:
    """``TARGET_BATCH_SECONDS`` for this database."""
    return TARGET_BATCH_SECONDS.get(database.engine.dialect.name, TARGET_BATCH_SECONDS["sqlite"])


@contextmanager
def _deploy_batches(database: Database) -> Iterator[SqliteBatches | PostgresBatches]:
    if database.engine.dialect.name == "sqlite":
        with sqlite_batches(database) as batches:
            yield batches
    else:
        yield PostgresBatches(database)


def _report(
    *,
    older_than_days: int,
    dry_run: bool,
    cutoff: datetime,
    deploys: int,
    bundles: BundleCounts,
    duration: float,
) -> CleanupReport:
    return CleanupReport(
        older_than_days=older_than_days,
        dry_run=dry_run,
        cutoff=cutoff,
        deleted_deploys=deploys,
        deleted_blobs=bundles.blobs,
        deleted_bundle_records=bundles.records,
        deleted_unpacked_dirs=bundles.unpacked_dirs,
        kept_in_use_bundles=bundles.in_use,
        duration_seconds=round(duration, 3),
    )


def _record_cleanup_event(database: Database, *, report: CleanupReport, actor: str | None) -> None:
    counts = report.to_json()
    document = ecs_event(
        action="cleanup.deploy_revisions",
        outcome="success",
        actor=actor,
        message=f"deleted {report.deleted_deploys} deploys and {report.deleted_blobs} blobs",
        extra={"cleanup": counts},
    )
    with database.session(write=True) as session:
        record_event(session, document)
        session.commit()
