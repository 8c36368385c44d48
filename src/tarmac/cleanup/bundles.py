"""Deleting bundles no deploy references: their records, blobs and unpacked dirs.

A bundle goes only if, inside the deleting transaction, its record is locked (FOR
UPDATE SKIP LOCKED on PostgreSQL; SQLite's write lock is already held), no deploy
references it, the record is older than the grace period, and none of its files was
touched within the in-use window (``docs/cleanup.md`` says why that is safe).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, delete, exists, select
from sqlalchemy.orm import Session

from tarmac.cleanup.bundle_files import BundleClaim, BundleFiles
from tarmac.cleanup.revisions import expired
from tarmac.db.unit_of_work import Database
from tarmac.deploys.models import BundleRecord, Deploy
from tarmac.failpoints import failpoint


@dataclass
class BundleCounts:
    records: int = 0
    blobs: int = 0
    unpacked_dirs: int = 0
    in_use: int = 0

    def add(self, other: BundleCounts) -> None:
        self.records += other.records
        self.blobs += other.blobs
        self.unpacked_dirs += other.unpacked_dirs
        self.in_use += other.in_use


@dataclass(frozen=True)
class BundleWindow:
    """A bundle may go if recorded before ``record_cutoff``, untouched since ``fresh_after``."""

    record_cutoff: datetime
    fresh_after: float  # a POSIX time, compared with file mtimes

    def in_use(self, files: BundleFiles, sha256: str) -> bool:
        touched = files.last_touched(sha256)
        return touched is not None and touched >= self.fresh_after


def delete_unreferenced_bundles(
    database: Database,
    *,
    files: BundleFiles,
    window: BundleWindow,
    batch_size: int,
    on_batch: Callable[[], None],
) -> BundleCounts:
    """Delete every unreferenced bundle record with its files, a batch per transaction."""
    counts = BundleCounts()
    after = ""
    while True:
        with database.session() as session:
            shas = list(session.scalars(_unreferenced(window, after=after, limit=batch_size)))
        if not shas:
            return counts
        after = shas[-1]
        counts.add(_delete_batch(database, files=files, window=window, shas=shas))
        on_batch()


def delete_orphan_files(
    database: Database,
    *,
    files: BundleFiles,
    window: BundleWindow,
    batch_size: int,
    on_batch: Callable[[], None],
) -> BundleCounts:
    """Delete blobs and unpacked dirs that have no bundle record (failed or stray uploads)."""
    counts = BundleCounts()
    for chunk in _chunks(sorted(files.orphan_candidates()), batch_size):
        with database.session() as session:
            orphans = set(chunk) - _recorded(session, chunk)
        if not orphans:
            continue
        claims: list[BundleClaim] = []
        # Re-checked in a write transaction: on SQLite no record can appear meanwhile.
        with database.session(write=True) as session:
            for sha in sorted(orphans - _recorded(session, orphans)):
                claim = _claim_unused(files, window, sha, counts)
                claims.extend([claim] if claim else [])
            session.commit()
        _discard(claims, counts)
        on_batch()
    return counts


def _recorded(session: Session, shas: Iterable[str]) -> set[str]:
    return set(session.scalars(select(BundleRecord.sha256).where(BundleRecord.sha256.in_(shas))))


def count_deletable_bundles(
    session: Session, *, files: BundleFiles, window: BundleWindow, deploy_cutoff: datetime
) -> BundleCounts:
    """What a real run would delete, for a dry run: bundles kept only by expired deploys."""
    kept = exists().where(Deploy.bundle_sha256 == BundleRecord.sha256, ~expired(deploy_cutoff))
    query = select(BundleRecord.sha256).where(
        BundleRecord.created_at <= window.record_cutoff, ~kept
    )
    counts = BundleCounts()
    recorded = set(session.scalars(select(BundleRecord.sha256)))
    orphans = files.orphan_candidates() - recorded
    for sha in [*session.scalars(query), *orphans]:
        if window.in_use(files, sha):
            counts.in_use += 1
            continue
        counts.records += sha not in orphans
        counts.blobs += files.blob_store.exists(sha)
        unpacked = files.unpacked_dir(sha)
        counts.unpacked_dirs += bool(unpacked and unpacked.is_dir())
    return counts


def _unreferenced(window: BundleWindow, *, after: str, limit: int) -> Select[str]:
    referenced = exists().where(Deploy.bundle_sha256 == BundleRecord.sha256)
    return (
        select(BundleRecord.sha256)
        .where(
            and_(BundleRecord.created_at <= window.record_cutoff, BundleRecord.sha256 > after),
            ~referenced,
        )
        .order_by(BundleRecord.sha256)
        .limit(limit)
    )


def _delete_batch(
    database: Database, *, files: BundleFiles, window: BundleWindow, shas: list[str]
) -> BundleCounts:
    counts = BundleCounts()
    claims: list[BundleClaim] = []
    with database.session(write=True) as session:
        # A deploy being recorded holds a key-share lock on its bundle's row: skip those.
        locked = set(
            session.scalars(
                select(BundleRecord.sha256)
                .where(
                    BundleRecord.sha256.in_(shas), BundleRecord.created_at <= window.record_cutoff
                )
                .with_for_update(skip_locked=True)
            )
        )
        # Re-checked under the lock, in a new statement (so on PostgreSQL a new snapshot).
        used = set(
            session.scalars(select(Deploy.bundle_sha256).where(Deploy.bundle_sha256.in_(locked)))
        )
        try:
            for sha in sorted(locked - used):
                claim = _claim_unused(files, window, sha, counts)
                claims.extend([claim] if claim else [])
            doomed = [c.sha256 for c in claims]
            failpoint("cleanup_files_aside")  # files renamed aside, records not yet deleted
            for claim in claims:
                claim.delete_remote()
            session.execute(
                delete(BundleRecord)
                .where(BundleRecord.sha256.in_(doomed))
                .execution_options(synchronize_session=False)
            )
            session.commit()
        except BaseException:
            for claim in claims:
                claim.restore()
            raise
    counts.records += len(claims)
    _discard(claims, counts)
    return counts


def _claim_unused(
    files: BundleFiles, window: BundleWindow, sha: str, counts: BundleCounts
) -> BundleClaim | None:
    """Claim a bundle's files unless a deploy touched them within the in-use window."""
    if window.in_use(files, sha):
        counts.in_use += 1
        return None
    claim = files.claim(sha)
    # A touch between the check above and the renames shows on the tombstones; files
    # back under the bundle's name mean a deploy stored or unpacked it again meanwhile.
    if claim.touched_since(window.fresh_after) or claim.files_back():
        claim.restore()
        counts.in_use += 1
        return None
    return claim


def _discard(claims: Iterable[BundleClaim], counts: BundleCounts) -> None:
    for claim in claims:
        blob, unpacked = claim.discard()
        counts.blobs += blob
        counts.unpacked_dirs += unpacked


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
