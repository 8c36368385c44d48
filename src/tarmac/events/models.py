"""The event outbox: events are stored in the writer's own transaction, so none is lost."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer
from sqlalchemy.orm import Mapped, mapped_column

from tarmac.db.base import Base, UTCDateTime, utcnow


class EventRecord(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Set once the line is in events.jsonl / once Elasticsearch acknowledged it.
    logged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    exported_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # Set once the webhook dispatcher turned the event into deliveries (issue 18).
    webhooks_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
