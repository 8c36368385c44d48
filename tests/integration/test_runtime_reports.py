"""Desired vs actual through the API: reports, failed rollouts, snapshots, restores, rights."""

from __future__ import annotations

from typing import Any

from tarmac.deployments.secret_values import SecretBox
from tests.integration.rollback_setup import History, error_code, make_history, rollback
from tests.support.server import Api


def report(api: Api, history: History, **fields: Any) -> Any:
    return api.put(f"/api/v1/deployments/{history.id}/runtime", json=fields)


def status(api: Api, history: History) -> dict[str, Any]:
    return api.ok(api.get(f"/api/v1/deployments/{history.id}/runtime"))  # type: ignore[no-any-return]


def test_runtime_is_unknown_until_a_runtime_side_reports(api: Api) -> None:
    history = make_history(api)
    assert status(api, history) == {
        "reached_deploy_id": None,
        "airflow_version": None,
        "state": "unknown",
        "components": [],
        "error": None,
        "reported_at": None,
        "message": None,
        "rollout_deploy_id": None,
        "recorded_deploy_id": history.v2["id"],
        "restore_snapshot_id": None,
        "metadata_facts": {},
        "import_errors": None,
        "unhealthy_since": None,
    }
    deploy = api.ok(api.get(f"/api/v1/deployments/{history.id}/deploys/{history.v2['id']}"))
    assert deploy["rollout"] is None


def test_a_report_shows_what_really_runs_beside_the_record(api: Api) -> None:
    history = make_history(api)
    api.ok(
        report(
            api,
            history,
            state="migrating",
            reached_deploy_id=history.v1["id"],
            rollout_deploy_id=history.v2["id"],
            airflow_version="2.10.4",
            components=[],
            message="airflow db migrate to 2.10.4",
        )
    )
    now = status(api, history)
    assert (now["state"], now["reached_deploy_id"], now["recorded_deploy_id"]) == (
        "migrating",
        history.v1["id"],
        history.v2["id"],
    )
    deploys = {d["id"]: d for d in api.history(history.id)}
    assert deploys[history.v2["id"]]["rollout"] == {"state": "migrating", "error": None}
    assert deploys[history.v1["id"]]["rollout"] == {"state": "migrating", "error": None}


def test_a_failed_rollout_marks_the_deploy_failed_and_the_restored_one_live(api: Api) -> None:
    history = make_history(api, runtime_v1="12.4.0", runtime_v2="12.11.0")
    api.ok(
        report(
            api,
            history,
            state="failed",
            rollout_deploy_id=history.v2["id"],
            reached_deploy_id=history.v1["id"],
            restored_deploy_id=history.v1["id"],
            airflow_version="2.10.4",
            components=[{"name": "scheduler", "healthy": True}],
            error="airflow db migrate failed (exit 1): boom",
        )
    )
    v2 = api.ok(api.get(f"/api/v1/deployments/{history.id}/deploys/{history.v2['id']}"))
    assert v2["status"] == "FAILED"
    assert "boom" in v2["failure_reason"] and "restored deploy #1" in v2["failure_reason"]
    assert v2["rollout"] == {"state": "failed", "error": "airflow db migrate failed (exit 1): boom"}
    deployment = api.ok(api.get(f"/api/v1/deployments/{history.id}"))
    assert deployment["current_deploy_id"] == history.v1["id"]
    assert deployment["runtime_version"] == "12.4.0"
    live = api.ok(api.get(f"/api/v1/deployments/{history.id}/dags/current"))
    assert live["deploy_id"] == history.v1["id"]
    # Reported again (a retry): nothing changes twice.
    api.ok(
        report(
            api,
            history,
            state="failed",
            rollout_deploy_id=history.v2["id"],
            reached_deploy_id=history.v1["id"],
            restored_deploy_id=history.v1["id"],
            error="airflow db migrate failed (exit 1): boom",
        )
    )
    assert (
        api.ok(api.get(f"/api/v1/deployments/{history.id}"))["current_deploy_id"]
        == (history.v1["id"])
    )


def test_a_failure_of_a_deploy_already_replaced_keeps_the_newer_one_live(api: Api) -> None:
    history = make_history(api)
    newer = api.ok(rollback(api, history, history.v1), 201)
    api.ok(
        report(
            api,
            history,
            state="failed",
            rollout_deploy_id=history.v2["id"],
            reached_deploy_id=history.v1["id"],
            restored_deploy_id=history.v1["id"],
            error="health timeout",
        )
    )
    assert api.ok(api.get(f"/api/v1/deployments/{history.id}"))["current_deploy_id"] == newer["id"]


def test_snapshots_are_listed_and_a_restore_is_requested_of_the_runtime_side(api: Api) -> None:
    history = make_history(api)
    snap = api.ok(
        api.post(
            f"/api/v1/deployments/{history.id}/snapshots",
            json={
                "deploy_id": history.v2["id"],
                "airflow_version": "3.1.8",
                "size_bytes": 123456,
                "location": "/srv/home/snapshots/a.db",
            },
        ),
        201,
    )
    listed = api.ok(api.get(f"/api/v1/deployments/{history.id}/snapshots"))["items"]
    assert [(s["id"], s["size_bytes"], s["airflow_version"]) for s in listed] == [
        (snap["id"], 123456, "3.1.8")
    ]
    assert "location" not in listed[0]
    path = f"/api/v1/deployments/{history.id}/snapshots/{snap['id']}/restore"
    refused = api.post(path)
    assert (refused.status_code, error_code(refused)) == (400, "invalid_request")
    api.ok(report(api, history, state="running", reached_deploy_id=history.v2["id"]))
    accepted = api.ok(api.post(path), 202)
    assert accepted["snapshot_id"] == snap["id"]
    desired = api.ok(api.get(f"/api/v1/deployments/{history.id}/runtime/desired"))
    assert desired["restore"]["id"] == snap["id"]
    assert desired["restore_location"] == "/srv/home/snapshots/a.db"
    api.ok(
        report(
            api,
            history,
            state="running",
            reached_deploy_id=history.v2["id"],
            restored_snapshot_id=snap["id"],
        )
    )
    assert status(api, history)["restore_snapshot_id"] is None
    listed = api.ok(api.get(f"/api/v1/deployments/{history.id}/snapshots"))["items"]
    assert listed[0]["restored_at"] is not None


def test_desired_runtime_carries_secrets_only_for_admins(api: Api) -> None:
    history = make_history(api)
    desired = api.ok(api.get(f"/api/v1/deployments/{history.id}/runtime/desired"))
    assert desired["deploy_id"] == history.v2["id"]
    assert desired["env_vars"] == {"REGION": "eu", "PW": "s"}
    assert desired["secret_keys"] == ["PW"]
    user_id, editor = api.new_user("editor")
    api.ok(
        api.put(
            f"/api/v1/deployments/{history.id}/members/{user_id}",
            json={"role": "DEPLOYMENT_EDITOR"},
        )
    )
    for response in (
        editor.get(f"/api/v1/deployments/{history.id}/runtime/desired"),
        editor.put(f"/api/v1/deployments/{history.id}/runtime", json={"state": "running"}),
    ):
        assert (response.status_code, error_code(response)) == (403, "permission_denied")
    assert editor.get(f"/api/v1/deployments/{history.id}/runtime").status_code == 200


def test_bad_reports_are_refused_and_change_nothing(api: Api) -> None:
    history = make_history(api)
    for body in (
        {"state": "dancing"},
        {"state": "running", "reached_deploy_id": "x" * 500},
        {"state": "running", "components": [{"name": "scheduler"}]},
    ):
        response = report(api, history, **body)
        assert (response.status_code, error_code(response)) == (400, "invalid_request"), body
    response = report(api, history, state="running", reached_deploy_id="nosuchdeploy")
    assert (response.status_code, error_code(response)) == (404, "not_found")
    assert status(api, history)["state"] == "unknown"


def test_dry_run_shows_row_counts_the_runtime_side_reported(api: Api) -> None:
    history = make_history(api, runtime_v1="12.11.0", runtime_v2="3.1-9")
    api.ok(
        report(
            api,
            history,
            state="running",
            reached_deploy_id=history.v2["id"],
            airflow_version="3.1.8",
            metadata_facts={
                "dialect": "sqlite",
                "row_counts": {"dag_version": 4, "backfill": 0, "task_instance_history": 3},
                "dag_runs_without_logical_date": 2,
                "measured_at": "2026-11-30T04:00:00+00:00",
            },
        )
    )
    plan = api.ok(rollback(api, history, history.v1, dry_run=True))["plan"]
    data_loss = next(w for w in plan["warnings"] if w["code"] == "data_loss")
    assert data_loss["row_counts"]["dag_version"] == 4
    assert data_loss["row_counts"]["backfill"] == 0
    assert "task_instance_history" not in data_loss["row_counts"]  # kept by 2.10
    risks = {r["code"]: r for r in data_loss["downgrade_risks"]}
    assert risks["task_instance_history_downgrade_fails"]["rows"] == 3
    assert risks["dag_runs_moved_aside"]["rows"] == 2
    assert "_airflow_moved__3_0_0__offending_dag_run" in data_loss["message"]


def test_cleanup_lets_snapshots_go_with_their_deploy_but_never_the_newest(api: Api) -> None:
    history = make_history(api)
    ids = [
        api.ok(
            api.post(
                f"/api/v1/deployments/{history.id}/snapshots",
                json={
                    "deploy_id": history.v1["id"],
                    "airflow_version": "2.10.4",
                    "size_bytes": 10,
                    "location": f"/srv/home/snapshots/{name}.db",
                },
            ),
            201,
        )["id"]
        for name in ("older", "newer")
    ]
    api.ok(api.post("/api/v1/admin/cleanup-deploy-revisions", json={"older_than_days": 0}))
    listed = api.ok(api.get(f"/api/v1/deployments/{history.id}/snapshots"))["items"]
    assert [(s["id"], s["deploy_id"]) for s in listed] == [(ids[1], None)]
    desired = api.ok(api.get(f"/api/v1/deployments/{history.id}/runtime/desired"))
    assert desired["snapshot_locations"] == ["/srv/home/snapshots/newer.db"]


def test_a_secret_the_key_no_longer_opens_is_a_clear_refusal_naming_it(api: Api) -> None:
    """TARMAC_SECRET_KEY changed since the secret was stored: 409, never a 500."""
    history = make_history(api)
    installation = api.client.app.state.installation  # type: ignore[attr-defined]
    original = installation.secrets
    installation.secrets = SecretBox("another installation key")
    try:
        response = api.get(f"/api/v1/deployments/{history.id}/runtime/desired")
    finally:
        installation.secrets = original
    assert (response.status_code, error_code(response)) == (409, "secret_undecryptable")
    assert response.json()["error"]["key"] == "PW"
    assert "PW" in response.json()["error"]["message"]
    assert api.ok(api.get(f"/api/v1/deployments/{history.id}/runtime/desired"))["env_vars"]
