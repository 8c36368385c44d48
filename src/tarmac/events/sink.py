"""Where exported events go: a small protocol the exporter ships batches through."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class PendingEvent:
    """One outbox event to ship: its id (the ``_id`` downstream) and its ECS document."""

    id: int
    document: dict[str, Any]
    created_at: datetime


class SinkUnavailable(Exception):
    """The destination could not be reached or refused the whole batch; retry later."""


class EventSink(Protocol):
    """A destination that stores each event once, keyed by its id."""

    def send(self, batch: Sequence[PendingEvent]) -> set[int]:
        """Store ``batch``; return the ids the destination acknowledged.

        An event that is already stored counts as acknowledged, so sending twice is safe.
        Raises ``SinkUnavailable`` when nothing could be delivered.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...
