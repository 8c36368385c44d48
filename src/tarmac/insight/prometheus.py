"""DORA figures per Deployment over the last 30 days, for Prometheus (cached for a minute)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from tarmac.db.base import utcnow
from tarmac.deployments.models import Deployment
from tarmac.insight.stats import stats_by_deployment

log = logging.getLogger(__name__)

PERIOD_DAYS = 30
_FAMILIES = {
    "tarmac_dora_deploys": "Deploys that went live in the last 30 days (rollbacks apart).",
    "tarmac_dora_rollbacks": "Rollbacks that went live in the last 30 days.",
    "tarmac_dora_change_failure_rate": "Deploys later rolled back ÷ deploys, last 30 days.",
    "tarmac_dora_time_to_restore_median_seconds": "Median bad deploy live → rollback live.",
    "tarmac_dora_deploy_frequency_per_day": "Deploys per day over the last 30 days.",
    "tarmac_dora_lead_time_median_seconds": "Median commit time → deploy live (Git metadata).",
}


class DoraCollector(Collector):
    """One gauge per figure, labelled by Deployment release name; NaN-free (absent = unknown)."""

    def __init__(self, *, engine: Engine, cache_seconds: float = 60.0) -> None:
        self.engine = engine
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def describe(self) -> Iterable[Metric]:
        return list(_families().values())  # names only: no query on register

    def collect(self) -> Iterable[Metric]:
        # The figures move slowly and cost a scan of 30 days of deploys (docs/benchmarks.md):
        # scrapes within ``cache_seconds`` of the last one reuse it.
        with self._lock:
            if self._cached and time.monotonic() - self._cached[0] < self.cache_seconds:
                return self._cached[1]
            metrics = self._compute()
            self._cached = (time.monotonic(), metrics)
            return metrics

    def _compute(self) -> list[Metric]:
        families = _families()
        try:
            with Session(self.engine) as session:
                rows = session.execute(select(Deployment.id, Deployment.release_name))
                names = {row.id: row.release_name for row in rows}
                figures = stats_by_deployment(session, days=PERIOD_DAYS, now=utcnow())
        except SQLAlchemyError:  # a scrape must still show the other metrics
            log.exception("could not compute DORA figures")
            return []
        for deployment_id, stats in figures.items():
            label = [names.get(deployment_id, deployment_id)]
            values = {
                "tarmac_dora_deploys": stats.deploys,
                "tarmac_dora_rollbacks": stats.rollbacks,
                "tarmac_dora_change_failure_rate": stats.change_failure_rate,
                "tarmac_dora_time_to_restore_median_seconds": stats.median_time_to_restore_seconds,
                "tarmac_dora_deploy_frequency_per_day": stats.deploy_frequency_per_day,
                "tarmac_dora_lead_time_median_seconds": stats.median_lead_time_seconds,
            }
            for name, value in values.items():
                if value is not None:
                    families[name].add_metric(label, float(value))
        return list(families.values())


def _families() -> dict[str, GaugeMetricFamily]:
    return {
        name: GaugeMetricFamily(name, text, labels=["deployment"])
        for name, text in _FAMILIES.items()
    }
