"""Hooks record into the attached app's registry only, and never raise."""

from __future__ import annotations

from prometheus_client import generate_latest

from tarmac import metrics
from tarmac.metrics import TarmacMetrics


def sample(app_metrics: TarmacMetrics, name: str, **labels: str) -> float | None:
    return app_metrics.registry.get_sample_value(name, labels)


def test_hooks_record_into_the_attached_metrics_only_while_attached() -> None:
    app_metrics = TarmacMetrics()
    metrics.observe_deploy(kind="rollback", outcome="success", seconds=1.0)  # not attached
    with metrics.recording(app_metrics):
        metrics.observe_deploy(kind="rollback", outcome="success", seconds=1.5)
        metrics.observe_deploy(kind="deploy", outcome="failure", seconds=0.2)
        metrics.count_refusal(code="deploy_too_old")
        metrics.observe_cleanup(deleted_deploys=7, deleted_blobs=3)
        metrics.observe_cleanup(deleted_deploys=100, deleted_blobs=100, dry_run=True)
    metrics.count_refusal(code="deploy_too_old")  # detached again

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


def test_a_broken_metric_never_breaks_the_caller() -> None:
    app_metrics = TarmacMetrics()
    with metrics.recording(app_metrics):
        metrics.observe_cleanup(deleted_deploys=-1, deleted_blobs=0)  # counters refuse this
    assert sample(app_metrics, "tarmac_cleanup_deleted_deploys_total") == 0
