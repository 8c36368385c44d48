"""Deleting expired deploy records, a batch per short transaction: what a batch may
delete, and PostgreSQL's batches (SQLite's: ``sqlite_batches.py``)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Select,
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


class PostgresBatches:
    """Deletes expired deploys a batch at a time on PostgreSQL, a transaction each."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def delete(self, *, cutoff: datetime, batch_size: int, after: Cursor | None) -> Batch:
        """Delete up to ``batch_size`` expired deploys after ``after``.

        Set-based: one SELECT of the batch (``batch_query``), one statement per dependent
        table, one DELETE. The DELETE repeats the conditions, so a deploy pinned since it
        was selected stays (PostgreSQL re-checks a row that changed while the DELETE
        waited for its lock).

        Lock order: the batch first locks the Deployments of its deploys (in id order),
        the lock every deploy and rollback takes first. A rollback to one of these
        deploys then either committed before (its new deploy holds the bundle; the
        target's record may go) or runs after and finds its target gone (404
        ``not_found``, nothing written), never a half-made deploy failing on a foreign
        key the cleanup removed under it.
        """
        started = time.monotonic()
        with self._database.session(write=True) as session:
            query = batch_query(cutoff=cutoff, batch_size=batch_size, after=after)
            rows = session.execute(query.add_columns(Deploy.deployment_id)).all()
            if not rows:
                return Batch(0, None, time.monotonic() - started)
            _lock_deployments(session, sorted({row.deployment_id for row in rows}))
            # One array parameter, not thousands of placeholders to render and bind.
            ids = bindparam("ids", [row.id for row in rows], type_=ARRAY(String))
            # The foreign keys would do this too (ON DELETE); saying it keeps it visible,
            # and set-based it spares PostgreSQL's per-row triggers the work.
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
        last = rows[-1]
        return Batch(rowcount(result), (last.created_at, last.id), time.monotonic() - started)


def batch_query(
    *, cutoff: datetime, batch_size: int, after: Cursor | None
) -> Select[str, datetime]:
    """The next batch's deploys (id, created_at): a keyset range in creation order."""
    query = select(Deploy.id, Deploy.created_at).where(expired(cutoff))
    if after is not None:
        query = query.where(_after(after))
    return query.order_by(Deploy.created_at, Deploy.id).limit(batch_size)


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
