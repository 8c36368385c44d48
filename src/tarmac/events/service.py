"""Record events in the caller's transaction and write them out once committed."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from tarmac.db.base import utcnow
from tarmac.events.models import EventRecord


def record_event(session: Session, document: dict[str, Any]) -> EventRecord:
    """Queue an event; it becomes real only if the entry point's transaction commits."""
    record = EventRecord(document=document)
    session.add(record)
    session.flush()
    return record


class EventLog:
    """The JSON-lines event log at ``<data-dir>/events/events.jsonl``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, documents: list[dict[str, Any]]) -> None:
        """Append whole lines under an exclusive lock, so concurrent writers never interleave."""
        if not documents:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = "".join(json.dumps(d, sort_keys=True) + "\n" for d in documents).encode()
        with self.path.open("ab") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]


def write_pending_events(engine: Engine, log: EventLog, *, batch: int = 500) -> int:
    """Copy committed events that are not yet in the log into it; returns how many.

    Runs after each committing request and at start-up, so an event committed just
    before a crash still reaches the log. Rows are claimed under a lock (PostgreSQL
    ``SKIP LOCKED``, SQLite's write lock) so two processes never write the same line.
    """
    written = 0
    while True:
        with Session(engine.execution_options(sqlite_begin="IMMEDIATE")) as session:
            query = (
                select(EventRecord)
                .where(EventRecord.logged_at.is_(None))
                .order_by(EventRecord.id)
                .limit(batch)
            )
            if engine.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            records = list(session.scalars(query))
            if not records:
                return written
            log.append([document_with_id(r) for r in records])
            session.execute(
                update(EventRecord)
                .where(EventRecord.id.in_([r.id for r in records]))
                .values(logged_at=utcnow())
            )
            session.commit()
            written += len(records)


def document_with_id(record: EventRecord) -> dict[str, Any]:
    """The stored document with ``event.id`` set, so consumers can drop duplicates."""
    document = dict(record.document)
    document["event"] = {**document.get("event", {}), "id": str(record.id)}
    return document
