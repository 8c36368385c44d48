"""``GET /metrics`` through the app: hook counters and the outbox backlog from the database."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tarmac.events.domain import CleanupFinished, DeployFinished
from tests.support.fake_bulk_server import FakeElasticsearch
from tests.support.server import Api, running_tarmac


def scrape(api: Api) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = api.as_token(None).get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def test_metrics_count_hooks_and_show_the_outbox_backlog(database_url: str, tmp_path: Path) -> None:
    with FakeElasticsearch() as unreachable:
        unreachable.down()
        with running_tarmac(
            data_dir=tmp_path / "data",
            database_url=database_url,
            elasticsearch_url=unreachable.url,
        ) as api:
            sales = api.new_deployment("sales")
            api.new_deployment("marketing")
            api.ok(api.deploy(sales["id"], type="IMAGE_ONLY", image="repo/img:1"), 201)
            installation = api.client.app.state.installation  # type: ignore[attr-defined]
            installation.database.dispatch(
                [
                    DeployFinished("d", kind="rollback", outcome="success", seconds=2.0),
                    CleanupFinished("success", dry_run=False, deleted_deploys=4, deleted_blobs=2),
                ]
            )
            api.client.app.state.metrics.count_refusal(code="rollback_not_enabled")  # type: ignore[attr-defined]
            samples = scrape(api)

    def value(name: str, **labels: str) -> float:
        return samples[(name, frozenset(labels.items()))]

    assert value("tarmac_deploys_total", kind="rollback", outcome="success") == 1
    # A real deploy's committed event reaches the app's metrics.
    assert value("tarmac_deploys_total", kind="deploy", outcome="success") == 1
    assert value("tarmac_deploy_duration_seconds_count", kind="rollback") == 1
    assert value("tarmac_refusals_total", code="rollback_not_enabled") == 1
    assert value("tarmac_cleanup_runs_total", outcome="success", dry_run="false") == 1
    assert value("tarmac_cleanup_deleted_deploys_total") == 4
    assert value("tarmac_event_outbox_backlog", destination="log") == 0
    assert value("tarmac_event_outbox_backlog", destination="elasticsearch") >= 2
    assert value("tarmac_event_outbox_oldest_age_seconds", destination="elasticsearch") >= 0


def test_without_export_only_the_log_backlog_is_reported(database_url: str, tmp_path: Path) -> None:
    with running_tarmac(data_dir=tmp_path / "data", database_url=database_url) as api:
        api.new_deployment("sales")
        samples = scrape(api)
    destinations = {
        dict(labels)["destination"]
        for name, labels in samples
        if name == "tarmac_event_outbox_backlog"
    }
    assert destinations == {"log"}
