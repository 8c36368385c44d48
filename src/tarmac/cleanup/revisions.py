"""Deleting expired deploy records, a batch per short transaction."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Row,
    String,
    and_,
    any_,
    bindparam,
    delete,
    false,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.orm import InstrumentedAttribute, Session

from tarmac.db.base import utcnow
from tarmac.db.unit_of_work import Database
from tarmac.deployments.models import Deployment
from tarmac.deploys.models import Deploy, DeployGit
from tarmac.rollouts.models import MetadataSnapshot

Cursor = tuple[datetime, str]
"""Where the last batch stopped: (created_at, id) of its last deploy."""

DEFAULT_WAL_AUTOCHECKPOINT = 1000
"""SQLite's default: a commit that leaves this many pages in the log checkpoints it."""
BATCH_CACHE_KIB = 65_536
"""SQLite's page cache for a batch: the default 2 MiB cannot hold the index pages one
batch rewrites, so it read them back from the OS as it went (a fifth of the time)."""
DEFAULT_CACHE_KIB = 2_000


class Batch(NamedTuple):
    """What one batch did."""

    deleted: int
    cursor: Cursor | None
    """Where the next batch starts; None when nothing was left."""
    locked_seconds: float
    """How long it held what requests wait for (SQLite's write lock, or the transaction
    with the Deployments' row locks on PostgreSQL)."""


def expired(cutoff: datetime) -> ColumnElement[bool]:
    """Deploys cleanup may delete: created at or before ``cutoff``, not pinned, not live,
    not reported in use by a running DAG run (``deploys/in_use.py``).

    ``<=`` mirrors rule 4: a deploy is a rollback target while its age is strictly less
    than the window, so one exactly as old as the window is already out of it.
    """
    live = select(Deployment.current_deploy_id).where(Deployment.current_deploy_id.is_not(None))
    not_in_use = or_(Deploy.in_use_until.is_(None), Deploy.in_use_until <= utcnow())
    return and_(
        Deploy.created_at <= cutoff,
        Deploy.pinned == false(),
        Deploy.id.not_in(live),
        not_in_use,
    )


def count_expired(session: Session, *, cutoff: datetime) -> int:
    return session.scalar(select(func.count()).select_from(Deploy).where(expired(cutoff))) or 0


DEPENDENTS: tuple[tuple[InstrumentedAttribute[Any], str], ...] = (
    (Deploy.rollback_from_id, "set null"),
    (DeployGit.deploy_id, "cascade"),
    (MetadataSnapshot.deploy_id, "set null"),
)
"""Every column whose foreign key points at a deploy, and what its ON DELETE does; the
batch does it itself, one statement per column (a test keeps this list complete).
``deployments.current_deploy_id`` is not here: ``expired`` never takes a live deploy."""


def delete_expired_batch(
    database: Database, *, cutoff: datetime, batch_size: int, after: Cursor | None
) -> Batch:
    """Delete up to ``batch_size`` expired deploys after ``after``.

    Set-based: one SELECT of the batch (a keyset range over ``created_at, id``), one
    statement per dependent table, one DELETE. The DELETE repeats the conditions, so a
    deploy pinned since it was selected stays (PostgreSQL re-checks a row that changed
    while the DELETE waited for its lock).

    Lock order: the batch first locks the Deployments of its deploys (in id order), the
    lock every deploy and rollback takes first. A rollback to one of these deploys then
    either committed before (its new deploy holds the bundle; the target's record may
    go) or runs after and finds its target gone (404 ``not_found``, nothing written),
    never a half-made deploy failing on a foreign key the cleanup removed under it.
    """
    if database.engine.dialect.name == "sqlite":
        return _delete_batch_sqlite(database, cutoff=cutoff, batch_size=batch_size, after=after)
    started = time.monotonic()
    with database.session(write=True) as session:
        rows = _select_batch(session, cutoff=cutoff, batch_size=batch_size, after=after)
        if not rows:
            return Batch(0, None, time.monotonic() - started)
        _lock_deployments(session, sorted({row.deployment_id for row in rows}))
        # One array parameter, not thousands of placeholders to render and bind.
        ids = bindparam("ids", [row.id for row in rows], type_=ARRAY(String))
        # The foreign keys would do this too (ON DELETE); saying it keeps it visible, and
        # set-based it spares PostgreSQL's per-row triggers the work.
        session.execute(
            update(Deploy)
            .where(Deploy.rollback_from_id == any_(ids))
            .values(rollback_from_id=None)
            .execution_options(synchronize_session=False)
        )
        result = session.execute(
            delete(Deploy)
            .where(Deploy.id == any_(ids), expired(cutoff))
            .execution_options(synchronize_session=False)
        )
        session.commit()
    return Batch(rowcount(result), (rows[-1].created_at, rows[-1].id), time.monotonic() - started)


def _delete_batch_sqlite(
    database: Database, *, cutoff: datetime, batch_size: int, after: Cursor | None
) -> Batch:
    """The batch on SQLite, under its write lock (BEGIN IMMEDIATE) from the first SELECT.

    SQLite enforces foreign keys row by row (a search of every referencing table for
    each deleted deploy, half the cost of the delete); this connection turns that off
    for the batch and does each ``DEPENDENTS`` action set-based instead. Nobody else can
    write meanwhile, and the selected deploys are exactly those deleted, so the result
    is the same.

    Its commit does not wait for an fsync of the log (``synchronous=NORMAL``) while it
    holds the write lock: a batch lost to a power cut only means its deploys are
    deleted by the next run, and the next commit with a flush (any request's, or the
    bundle pass's, which deletes files only after its own) makes every earlier one in
    the log durable first. A connection whose settings could not be put back is thrown
    away, never handed to anyone else.

    It checkpoints the log itself, right after its commit (the lock released), instead of
    inside the commit as SQLite's automatic checkpoint would: a batch dirties index pages
    all over the file (deploy ids are random), so copying them into the database took
    half of each batch; requests that wanted the lock can take it while it runs, and the
    batch is sized by the time it held the lock alone.
    """
    with database.engine.connect() as connection:
        driver = connection.connection.driver_connection
        assert driver is not None
        # Outside a transaction, or foreign_keys is a no-op.
        driver.execute("PRAGMA foreign_keys=OFF")
        driver.execute("PRAGMA synchronous=NORMAL")
        driver.execute("PRAGMA wal_autocheckpoint=0")
        driver.execute(f"PRAGMA cache_size=-{BATCH_CACHE_KIB}")
        try:
            started = time.monotonic()
            with Session(bind=connection.execution_options(sqlite_begin="IMMEDIATE")) as session:
                rows = _select_batch(session, cutoff=cutoff, batch_size=batch_size, after=after)
                if not rows:
                    return Batch(0, None, time.monotonic() - started)
                ids = [row.id for row in rows]
                for column, action in DEPENDENTS:
                    statement = (
                        delete(column.class_)
                        if action == "cascade"
                        else update(column.class_).values({column.key: None})
                    )
                    session.execute(
                        statement.where(column.in_(ids)).execution_options(
                            synchronize_session=False
                        )
                    )
                result = session.execute(
                    delete(Deploy)
                    .where(Deploy.id.in_(ids))
                    .execution_options(synchronize_session=False)
                )
                session.commit()
            locked = time.monotonic() - started
            driver.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            try:
                driver.execute("PRAGMA foreign_keys=ON")
                driver.execute("PRAGMA synchronous=FULL")
                driver.execute(f"PRAGMA wal_autocheckpoint={DEFAULT_WAL_AUTOCHECKPOINT}")
                driver.execute(f"PRAGMA cache_size=-{DEFAULT_CACHE_KIB}")
            except BaseException:
                connection.invalidate()
                raise
    return Batch(rowcount(result), (rows[-1].created_at, rows[-1].id), locked)


def _select_batch(
    session: Session, *, cutoff: datetime, batch_size: int, after: Cursor | None
) -> Sequence[Row[str, datetime, str]]:
    query = select(Deploy.id, Deploy.created_at, Deploy.deployment_id).where(expired(cutoff))
    if after is not None:
        query = query.where(_after(after))
    return session.execute(query.order_by(Deploy.created_at, Deploy.id).limit(batch_size)).all()


def _lock_deployments(session: Session, deployment_ids: list[str]) -> None:
    """Row-lock these Deployments as deploys and rollbacks do (SQLite's write lock
    already serialises them)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(
        select(Deployment.id)
        .where(Deployment.id.in_(deployment_ids))
        .order_by(Deployment.id)
        .with_for_update()
    ).all()


def _after(cursor: Cursor) -> ColumnElement[bool]:
    created_at, deploy_id = cursor
    # The first term lets the database start from the created_at index.
    return and_(
        Deploy.created_at >= created_at,
        or_(Deploy.created_at > created_at, Deploy.id > deploy_id),
    )


def rowcount(result: Result[object]) -> int:
    assert isinstance(result, CursorResult)
    return result.rowcount
