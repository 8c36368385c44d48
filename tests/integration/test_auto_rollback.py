"""Automatic rollback, by calling the service the runtime report will call (SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from tarmac.safe_ops.auto_rollback import AutoRollbackOutcome, auto_rollback_after_report
from tests.integration.rollback_setup import History, error_code, make_history
from tests.integration.safe_ops_setup import deployment, events, plain_deploy
from tests.support.server import Api


def _installation(api: Api) -> Any:
    return api.client.app.state.installation  # type: ignore[attr-defined]


def _unhealthy(
    api: Api, history: History, deploy: dict[str, Any], reason: str
) -> AutoRollbackOutcome:
    return auto_rollback_after_report(
        _installation(api), deployment_id=history.id, deploy_id=deploy["id"], reason=reason
    )


def _enable(api: Api, history: History, **settings: Any) -> None:
    body = {"auto_rollback_enabled": True, **settings}
    api.ok(api.patch(f"/api/v1/deployments/{history.id}", json=body))


def _sql(api: Api, statement: str, **params: Any) -> None:
    with _installation(api).database.engine.begin() as conn:
        conn.execute(text(statement), params)


def test_an_unhealthy_deploy_is_rolled_back_once_marked_bad_and_held(api: Api) -> None:
    history = make_history(api)
    _enable(api, history)
    outcome = _unhealthy(api, history, history.v2, "scheduler unhealthy")
    assert outcome.action == "rolled_back"

    newest, *_ = api.history(history.id)
    assert newest["rollback_from_id"] == history.v1["id"]
    assert newest["automatic"] is True
    assert newest["status"] == "DEPLOYED"
    assert newest["created_by"] == "tarmac-auto-rollback"
    assert "scheduler unhealthy" in newest["description"]
    assert f"#{history.v2['seq']}" in newest["description"]
    dep = deployment(api, history)
    assert dep["current_deploy_id"] == newest["id"]
    assert dep["hold"]["deploy_id"] == newest["id"]
    assert error_code(plain_deploy(api, history, "v4")) == "rollback_hold"
    bad = api.ok(api.get(f"/api/v1/deployments/{history.id}/deploys/{history.v2['id']}"))
    assert bad["marked_bad"]["reason"] == "scheduler unhealthy"
    assert bad["marked_bad"]["by"] == "tarmac-auto-rollback"
    (event,) = events(api, "deploy.auto_rollback")
    assert event["event"]["outcome"] == "success"
    assert event["tarmac"]["auto_rollback"]["rollback"]["id"] == newest["id"]
    assert len(events(api, "deploy.rollback")) == 1  # a normal rollback, logged as one

    # Never a loop, never twice: the automatic rollback is left alone, so is the same deploy.
    assert _unhealthy(api, history, newest, "still unhealthy").action == "skipped"
    assert _unhealthy(api, history, history.v2, "again").action == "skipped"
    assert len(api.history(history.id)) == 3


def test_off_by_default_and_outside_the_window_nothing_happens(api: Api) -> None:
    history = make_history(api)
    assert _unhealthy(api, history, history.v2, "import errors").action == "skipped"
    _enable(api, history, auto_rollback_window_seconds=600)
    old = datetime.now(UTC) - timedelta(minutes=11)
    if _installation(api).database.engine.dialect.name == "sqlite":
        old = old.replace(tzinfo=None)
    _sql(api, "UPDATE deploys SET created_at = :t WHERE id = :i", t=old, i=history.v2["id"])
    outcome = _unhealthy(api, history, history.v2, "import errors")
    assert outcome.action == "skipped"
    assert "window" in outcome.message
    assert len(api.history(history.id)) == 2
    assert deployment(api, history)["hold"] is None
    assert api.history(history.id)[0]["marked_bad"] is None
    assert events(api, "deploy.auto_rollback") == []  # nothing done, nothing logged


def test_a_failed_rollout_the_runtime_restored_is_marked_bad_and_held(api: Api) -> None:
    history = make_history(api)
    _enable(api, history)
    v3 = api.ok(plain_deploy(api, history, "v3"), 201)
    # What the runtime side and the server do when a rollout fails: v3 FAILED, v2 live again.
    _sql(api, "UPDATE deploys SET status = 'FAILED' WHERE id = :i", i=v3["id"])
    _sql(
        api,
        "UPDATE deployments SET current_deploy_id = :d WHERE id = :i",
        d=history.v2["id"],
        i=history.id,
    )
    outcome = _unhealthy(api, history, v3, "airflow db migrate failed; snapshot restored")
    assert outcome.action == "restored_by_runtime"
    assert len(api.history(history.id)) == 3  # no rollback deploy: v2 is live already
    hold = deployment(api, history)["hold"]
    assert hold["deploy_id"] == history.v2["id"]
    assert "migrate failed" in hold["reason"]
    assert api.history(history.id)[0]["marked_bad"]["reason"].startswith("airflow db migrate")


def test_a_rollback_needing_a_human_acknowledgement_is_not_done_automatically(api: Api) -> None:
    history = make_history(api, runtime_v1="9.1.0", runtime_v2="9.7.0")  # 9.1.0 is restricted
    _enable(api, history)
    outcome = _unhealthy(api, history, history.v2, "workers crash")
    assert outcome.action == "refused"
    assert "acknowledgement_required" in outcome.message
    assert len(api.history(history.id)) == 2
    assert api.history(history.id)[0]["marked_bad"]["reason"] == "workers crash"
    (event,) = events(api, "deploy.auto_rollback")
    assert event["event"]["outcome"] == "failure"


def _report(api: Api, history: History, reached: dict[str, Any], **fields: Any) -> Any:
    body = {
        "state": "running",
        "reached_deploy_id": reached["id"],
        "airflow_version": "2.10.5",
        "components": [{"name": "scheduler", "healthy": True}],
        **fields,
    }
    return api.ok(api.put(f"/api/v1/deployments/{history.id}/runtime", json=body))


BROKEN = {
    "file": "ml.py",
    "error": "Traceback (most recent call last):\nModuleNotFoundError: No module named 'x'",
    "new": True,
}


def test_new_import_errors_the_runtime_reports_roll_back_once(api: Api) -> None:
    history = make_history(api)
    _enable(api, history)
    shown = _report(api, history, history.v2, import_errors=[BROKEN])
    assert shown["import_errors"] == [BROKEN]  # as reported, for --wait and the UI

    newest, *_ = api.history(history.id)
    assert newest["rollback_from_id"] == history.v1["id"]
    assert newest["automatic"] is True
    assert "1 new DAG import error(s) in Airflow 2.10.5" in newest["description"]
    assert "ml.py: ModuleNotFoundError: No module named 'x'" in newest["description"]
    bad = api.ok(api.get(f"/api/v1/deployments/{history.id}/deploys/{history.v2['id']}"))
    assert "ml.py" in bad["marked_bad"]["reason"]
    assert deployment(api, history)["hold"]["deploy_id"] == newest["id"]

    # The same report again, and the rollback's own report: nothing more happens.
    _report(api, history, history.v2, import_errors=[BROKEN])
    _report(api, history, newest, import_errors=[BROKEN])
    assert len(api.history(history.id)) == 3
    assert len(events(api, "deploy.auto_rollback")) == 1


def test_import_errors_that_are_not_new_or_were_allowed_roll_nothing_back(api: Api) -> None:
    history = make_history(api)
    _enable(api, history)
    old_error = {**BROKEN, "new": False}  # the previous deploy had it already
    _report(api, history, history.v2, import_errors=[old_error])
    assert len(api.history(history.id)) == 2
    assert api.history(history.id)[0]["marked_bad"] is None

    _sql(
        api,
        "UPDATE deploys SET import_check = :c WHERE id = :i",
        c='{"status": "allowed", "allow_import_errors": true}',
        i=history.v2["id"],
    )
    _report(api, history, history.v2, import_errors=[BROKEN])
    assert len(api.history(history.id)) == 2  # an admin let these errors through
    assert deployment(api, history)["hold"] is None


def test_import_errors_are_forgotten_when_another_deploy_is_reached(api: Api) -> None:
    history = make_history(api)  # automatic rollback off: the report is only shown
    assert _report(api, history, history.v2, import_errors=[BROKEN])["import_errors"] == [BROKEN]
    assert len(api.history(history.id)) == 2
    # A report without them about the same deploy keeps them; another deploy forgets them.
    assert _report(api, history, history.v2)["import_errors"] == [BROKEN]
    assert _report(api, history, history.v1)["import_errors"] is None


def test_components_unhealthy_past_the_grace_roll_back_a_blip_does_not(api: Api) -> None:
    history = make_history(api)
    _enable(api, history)
    sick = [{"name": "scheduler", "healthy": True}, {"name": "triggerer", "healthy": False}]
    first = _report(api, history, history.v2, components=sick)
    assert first["unhealthy_since"] is not None
    assert _report(api, history, history.v2)["unhealthy_since"] is None  # healthy again
    assert _report(api, history, history.v2, components=sick)["unhealthy_since"] is not None
    assert len(api.history(history.id)) == 2  # a blip is no failure

    # Unhealthy without a break for longer than the grace: rolled back once.
    long_ago = datetime.now(UTC) - timedelta(minutes=3)
    if _installation(api).database.engine.dialect.name == "sqlite":
        long_ago = long_ago.replace(tzinfo=None)
    _sql(
        api,
        "UPDATE runtime_status SET unhealthy_since = :t WHERE deployment_id = :i",
        t=long_ago,
        i=history.id,
    )
    _report(api, history, history.v2, components=sick)
    newest, *_ = api.history(history.id)
    assert newest["automatic"] is True
    assert newest["rollback_from_id"] == history.v1["id"]
    assert "components unhealthy for 1" in newest["description"]
    assert newest["description"].count("triggerer") == 1
    bad = api.ok(api.get(f"/api/v1/deployments/{history.id}/deploys/{history.v2['id']}"))
    assert "triggerer" in bad["marked_bad"]["reason"]
    # The rollback's own first report starts its own clock.
    assert _report(api, history, newest, components=sick)["unhealthy_since"] is not None
    assert len(api.history(history.id)) == 3
