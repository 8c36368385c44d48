"""Metrics count committed domain events, only while subscribed, and never break a commit."""

from __future__ import annotations

from prometheus_client import generate_latest
from sqlalchemy import create_engine

from tarmac.db.unit_of_work import Database, collect
from tarmac.events.domain import CleanupFinished, DeployFinished
from tarmac.metrics import TarmacMetrics


def sample(app_metrics: TarmacMetrics, name: str, **labels: str) -> float | None:
    return app_metrics.registry.get_sample_value(name, labels)


def test_committed_events_are_counted_while_subscribed() -> None:
    database = Database(create_engine("sqlite://"))
    app_metrics = TarmacMetrics()
    rollback = DeployFinished(deployment_id="d", kind="rollback", outcome="success", seconds=1.5)
    database.dispatch([rollback])  # not subscribed
    with database.subscribed(app_metrics.on_event):
        with database.session(write=True) as session:
            collect(session, rollback)
            collect(session, DeployFinished("d", "deploy", "failure", 0.2))
            database.commit(session)
        with database.session(write=True) as session:
            collect(session, rollback)  # rolled back: never counted
        database.dispatch([CleanupFinished("success", False, 7, 3)])
        database.dispatch([CleanupFinished("success", True, 100, 100)])
        app_metrics.count_refusal(code="deploy_too_old")
    database.dispatch([rollback])  # unsubscribed again

    assert sample(app_metrics, "tarmac_deploys_total", kind="rollback", outcome="success") == 1
    assert sample(app_metrics, "tarmac_deploys_total", kind="deploy", outcome="failure") == 1
    assert sample(app_metrics, "tarmac_deploy_duration_seconds_sum", kind="rollback") == 1.5
    assert sample(app_metrics, "tarmac_refusals_total", code="deploy_too_old") == 1
    assert sample(app_metrics, "tarmac_cleanup_runs_total", outcome="success", dry_run="true") == 1
    assert sample(app_metrics, "tarmac_cleanup_deleted_deploys_total") == 7
    assert sample(app_metrics, "tarmac_cleanup_deleted_blobs_total") == 3


def test_known_series_start_at_zero() -> None:
    text = generate_latest(TarmacMetrics().registry).decode()
    assert 'tarmac_deploys_total{kind="rollback",outcome="failure"} 0.0' in text
    assert 'tarmac_refusals_total{code="acknowledgement_required"} 0.0' in text
    assert 'code="internal_error"' not in text


def test_a_broken_metric_never_breaks_the_commit() -> None:
    database = Database(create_engine("sqlite://"))
    app_metrics = TarmacMetrics()
    with database.subscribed(app_metrics.on_event):
        database.dispatch([CleanupFinished("success", False, -1, 0)])  # counters refuse this
    assert sample(app_metrics, "tarmac_cleanup_deleted_deploys_total") == 0
