"""Ship the event outbox to an ``EventSink`` (Elasticsearch in production), in the background.

Delivery: an event leaves the outbox (``exported_at`` set) only after the sink
acknowledged it; the sink stores by event id, so the retries this implies never
duplicate. Failures are retried with backoff; the outbox survives restarts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from tarmac.db.base import utcnow
from tarmac.events.backoff import Backoff
from tarmac.events.elasticsearch_sink import ElasticsearchSink
from tarmac.events.export_lock import export_turn
from tarmac.events.models import EventRecord
from tarmac.events.service import document_with_id
from tarmac.events.sink import EventSink, PendingEvent, SinkUnavailable
from tarmac.failpoints import failpoint
from tarmac.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportRound:
    """What one pass over the outbox did."""

    acknowledged: int = 0
    unacknowledged: int = 0
    sink_unavailable: bool = False
    skipped: bool = False  # another process held the export turn

    @property
    def should_back_off(self) -> bool:
        return self.sink_unavailable or self.unacknowledged > 0


def export_pending(
    engine: Engine,
    sink: EventSink,
    *,
    batch_size: int = 500,
    keep_going: Callable[[], bool] = lambda: True,
) -> ExportRound:
    """Send every unexported event, oldest first in batches; mark what the sink acknowledged.

    A rejected event stays in the outbox for the next round, without holding back the
    events behind it. Stops early if the sink is unreachable or ``keep_going()`` is false.
    """
    with export_turn(engine) as my_turn:
        if not my_turn:
            return ExportRound(skipped=True)
        acknowledged = unacknowledged = 0
        after_id = 0
        while keep_going() and (
            batch := pending_events(engine, after_id=after_id, limit=batch_size)
        ):
            try:
                acked = sink.send(batch) & {event.id for event in batch}
            except SinkUnavailable as exc:
                log.warning("event export paused: %s", exc)
                return ExportRound(
                    acknowledged=acknowledged,
                    unacknowledged=unacknowledged,
                    sink_unavailable=True,
                )
            failpoint("export_after_send")  # the sink has them; the outbox does not know yet
            mark_exported(engine, ids=acked)
            acknowledged += len(acked)
            unacknowledged += len(batch) - len(acked)
            after_id = batch[-1].id
        return ExportRound(acknowledged=acknowledged, unacknowledged=unacknowledged)


def pending_events(engine: Engine, *, after_id: int, limit: int) -> list[PendingEvent]:
    """Up to ``limit`` committed, unexported events with ids above ``after_id``, oldest first."""
    query = (
        select(EventRecord)
        .where(EventRecord.exported_at.is_(None), EventRecord.id > after_id)
        .order_by(EventRecord.id)
        .limit(limit)
    )
    with Session(engine) as session:
        return [
            PendingEvent(id=r.id, document=document_with_id(r), created_at=r.created_at)
            for r in session.scalars(query)
        ]


def mark_exported(engine: Engine, *, ids: set[int]) -> None:
    """Take acknowledged events out of the outbox (a short write transaction)."""
    if not ids:
        return
    with Session(engine.execution_options(sqlite_begin="IMMEDIATE")) as session:
        session.execute(
            update(EventRecord)
            .where(EventRecord.id.in_(sorted(ids)), EventRecord.exported_at.is_(None))
            .values(exported_at=utcnow())
        )
        session.commit()


class EventExporter:
    """A background thread running ``export_pending``: every poll, or after a backoff delay."""

    def __init__(
        self,
        *,
        engine: Engine,
        sink: EventSink,
        batch_size: int = 500,
        poll_seconds: float = 1.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.engine = engine
        self.sink = sink
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.backoff = backoff or Backoff()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the event exporter is already running")
        self._thread = threading.Thread(target=self._run, name="tarmac-event-export", daemon=True)
        self._thread.start()

    def stop(self, *, timeout: float = 30.0) -> None:
        """Finish the batch in flight (up to ``timeout``), then close the sink."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the event exporter did not stop within %ss", timeout)
        self.sink.close()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                back_off = export_pending(
                    self.engine,
                    self.sink,
                    batch_size=self.batch_size,
                    keep_going=lambda: not self._stopping.is_set(),
                ).should_back_off
            except Exception:  # e.g. the database is away; the thread must outlive it
                log.exception("event export round failed")
                back_off = True
            if back_off:
                delay = self.backoff.next_delay()
            else:
                self.backoff.reset()
                delay = self.poll_seconds
            self._stopping.wait(delay)


@contextmanager
def exporting_events(*, settings: Settings, engine: Engine) -> Iterator[EventExporter | None]:
    """Run the Elasticsearch exporter while the block runs, if ``elasticsearch_url`` is set."""
    if not settings.elasticsearch_url:
        yield None
        return
    sink = ElasticsearchSink(
        url=settings.elasticsearch_url, index_prefix=settings.elasticsearch_index_prefix
    )
    exporter = EventExporter(engine=engine, sink=sink)
    exporter.start()
    log.info("exporting events to Elasticsearch (%s-YYYY.MM.DD)", sink.index_prefix)
    try:
        yield exporter
    finally:
        exporter.stop()
