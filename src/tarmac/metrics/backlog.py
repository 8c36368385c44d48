"""The event outbox backlog, counted in the database at each scrape."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from tarmac.db.base import utcnow
from tarmac.events.models import EventRecord

log = logging.getLogger(__name__)

BACKLOG = "tarmac_event_outbox_backlog"
OLDEST = "tarmac_event_outbox_oldest_age_seconds"


class OutboxBacklogCollector(Collector):
    """Events not yet in the JSON-lines log, and (when export is on) not yet in Elasticsearch."""

    def __init__(self, *, engine: Engine, export_enabled: bool) -> None:
        self.engine = engine
        self.export_enabled = export_enabled

    def describe(self) -> Iterable[Metric]:
        # Names only: without this the registry would run collect() (a query) on register.
        return [_backlog_family(), _oldest_family()]

    def collect(self) -> Iterable[Metric]:
        destinations: dict[str, ColumnElement[bool]] = {"log": EventRecord.logged_at.is_(None)}
        if self.export_enabled:
            # Without export nothing ever leaves this queue; reporting it would only alarm.
            destinations["elasticsearch"] = EventRecord.exported_at.is_(None)
        backlog, oldest = _backlog_family(), _oldest_family()
        try:
            with self.engine.connect() as connection:
                for destination, pending in destinations.items():
                    count, first = connection.execute(
                        select(func.count(), func.min(EventRecord.created_at)).where(pending)
                    ).one()
                    backlog.add_metric([destination], count)
                    oldest.add_metric([destination], _age_seconds(first))
        except SQLAlchemyError:  # a scrape must still show the counters
            log.exception("could not count the event outbox backlog")
            return []
        return [backlog, oldest]


def _backlog_family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        BACKLOG, "Events waiting in the outbox, by destination.", labels=["destination"]
    )


def _oldest_family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        OLDEST,
        "Age of the oldest event waiting in the outbox (0 if none), by destination.",
        labels=["destination"],
    )


def _age_seconds(first: datetime | None) -> float:
    return max(0.0, (utcnow() - first).total_seconds()) if first is not None else 0.0
