"""The metrics of one app, in their own registry (never prometheus-client's global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy import Engine

from tarmac.errors import ERROR_BY_CODE
from tarmac.events.domain import CleanupFinished, DeployFinished, DomainEvent
from tarmac.insight.prometheus import DoraCollector
from tarmac.metrics.backlog import OutboxBacklogCollector

DEPLOY_KINDS = ("deploy", "rollback")
OUTCOMES = ("success", "failure")
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class TarmacMetrics:
    """Counters and histograms of one app, plus the outbox backlog read from its database."""

    def __init__(self, *, engine: Engine | None = None, export_enabled: bool = False) -> None:
        self.registry = CollectorRegistry()
        self.deploys = Counter(
            "tarmac_deploys",
            "Deploys and rollbacks that finished, by kind (deploy, rollback) and outcome.",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.deploy_seconds = Histogram(
            "tarmac_deploy_duration_seconds",
            "Time to record a deploy or rollback and make it live, by kind.",
            ["kind"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.refusals = Counter(
            "tarmac_refusals",
            "Requests refused with an error code (rule violations, bad input, auth).",
            ["code"],
            registry=self.registry,
        )
        self.cleanup_runs = Counter(
            "tarmac_cleanup_runs",
            "Deploy revision cleanup runs, by outcome and whether it was a dry run.",
            ["outcome", "dry_run"],
            registry=self.registry,
        )
        self.cleanup_deleted_deploys = Counter(
            "tarmac_cleanup_deleted_deploys",
            "Deploy records deleted by cleanup.",
            registry=self.registry,
        )
        self.cleanup_deleted_blobs = Counter(
            "tarmac_cleanup_deleted_blobs",
            "Stored artifacts (bundles) deleted by cleanup.",
            registry=self.registry,
        )
        if engine is not None:
            self.registry.register(
                OutboxBacklogCollector(engine=engine, export_enabled=export_enabled)
            )
            self.registry.register(DoraCollector(engine=engine))
        self._show_zeros()

    def _show_zeros(self) -> None:
        # Known series start at 0, so rate() and alerts work before the first event.
        for kind in DEPLOY_KINDS:
            self.deploy_seconds.labels(kind=kind)
            for outcome in OUTCOMES:
                self.deploys.labels(kind=kind, outcome=outcome)
        for code, error in ERROR_BY_CODE.items():
            if error.status < 500:
                self.refusals.labels(code=code)
        for outcome in OUTCOMES:
            for dry_run in ("true", "false"):
                self.cleanup_runs.labels(outcome=outcome, dry_run=dry_run)

    def on_event(self, event: DomainEvent) -> None:
        """Handler of committed domain events."""
        if isinstance(event, DeployFinished):
            self.observe_deploy(kind=event.kind, outcome=event.outcome, seconds=event.seconds)
        elif isinstance(event, CleanupFinished):
            self.observe_cleanup(
                outcome=event.outcome,
                dry_run=event.dry_run,
                deleted_deploys=event.deleted_deploys,
                deleted_blobs=event.deleted_blobs,
            )

    def observe_deploy(self, *, kind: str, outcome: str, seconds: float) -> None:
        self.deploys.labels(kind=kind, outcome=outcome).inc()
        self.deploy_seconds.labels(kind=kind).observe(seconds)

    def count_refusal(self, *, code: str) -> None:
        self.refusals.labels(code=code).inc()

    def observe_cleanup(
        self, *, outcome: str, dry_run: bool, deleted_deploys: int, deleted_blobs: int
    ) -> None:
        self.cleanup_runs.labels(outcome=outcome, dry_run=str(dry_run).lower()).inc()
        if not dry_run:
            self.cleanup_deleted_deploys.inc(deleted_deploys)
            self.cleanup_deleted_blobs.inc(deleted_blobs)
