"""A lease in the database, so that one server replica at a time runs a job.

Taking it is one atomic statement: an ``UPDATE … WHERE expires_at < now`` (or the
holder's own renewal), else an ``INSERT`` that does nothing if the row appeared
meanwhile. Each step is its own short transaction; whoever changed a row holds it.
Expiry is judged on the replicas' clocks, so they are assumed in sync (NTP) to well
within the lease's length.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.dml import UpdateBase

from tarmac.cleanup.models import Lease
from tarmac.db.unit_of_work import Database


def acquire_lease(
    database: Database, *, name: str, holder: str, until: datetime, now: datetime
) -> bool:
    """Take (or renew) lease ``name`` for ``holder`` until ``until``; False if someone holds it."""
    taken = update(Lease).where(
        Lease.name == name, or_(Lease.expires_at < now, Lease.holder == holder)
    )
    if _changed(database, taken.values(holder=holder, expires_at=until)):
        return True
    return _changed(database, _insert_if_absent(database, name=name, holder=holder, until=until))


def renew_lease(database: Database, *, name: str, holder: str, until: datetime) -> bool:
    """Move the end of a lease ``holder`` still holds; False if it was lost (expired, taken)."""
    statement = (
        update(Lease)
        .where(and_(Lease.name == name, Lease.holder == holder))
        .values(expires_at=until)
    )
    return _changed(database, statement)


def release_lease(database: Database, *, name: str, holder: str, now: datetime) -> bool:
    """End a lease now, if ``holder`` still holds it."""
    return renew_lease(database, name=name, holder=holder, until=now)


def _insert_if_absent(database: Database, *, name: str, holder: str, until: datetime) -> UpdateBase:
    values = {"name": name, "holder": holder, "expires_at": until}
    if database.engine.dialect.name == "postgresql":
        return pg_insert(Lease).values(values).on_conflict_do_nothing()
    return sqlite_insert(Lease).values(values).on_conflict_do_nothing()


def _changed(database: Database, statement: UpdateBase) -> bool:
    """Run one statement in its own transaction; whether it changed the lease's row."""
    # RETURNING, not rowcount: an ORM insert on PostgreSQL reports rowcount -1.
    with database.session(write=True) as session:
        changed = session.execute(statement.returning(Lease.name)).first() is not None
        session.commit()
    return changed
