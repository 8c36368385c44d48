"""Freeze windows, bad marks and last-good through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.rollback_setup import error_code, make_history, rollback
from tests.integration.safe_ops_setup import deployment, events, plain_deploy
from tests.support.server import Api


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _freeze(api: Api, deployment_id: str, windows: list[dict[str, Any]]) -> Any:
    return api.patch(f"/api/v1/deployments/{deployment_id}", json={"freeze_windows": windows})


NOW = datetime.now(UTC)
AROUND_NOW = {"start": _iso(NOW - timedelta(hours=1)), "end": _iso(NOW + timedelta(days=2))}


@pytest.mark.parametrize(
    "window",
    [
        {**AROUND_NOW, "reason": ""},
        {"start": AROUND_NOW["end"], "end": AROUND_NOW["start"], "reason": "backwards"},
        {"start": "2026-12-01T10:00:00", "end": "2026-12-02T10:00:00", "reason": "no zone"},
        {"start": "tomorrow", "end": AROUND_NOW["end"], "reason": "not a time"},
        {**AROUND_NOW, "reason": "r", "repeat": "monthly"},
        {**AROUND_NOW, "reason": "lasts a day, daily", "repeat": "daily"},
        {**AROUND_NOW, "reason": "r", "colour": "blue"},
        "2026-12-01",
    ],
)
def test_bad_freeze_windows_are_refused_and_change_nothing(api: Api, window: Any) -> None:
    history = make_history(api)
    response = _freeze(api, history.id, [window])
    assert response.status_code == 400, response.text
    assert error_code(response) == "invalid_request"
    assert deployment(api, history)["freeze_windows"] == []


def test_a_freeze_refuses_plain_deploys_not_rollbacks_and_admins_override(api: Api) -> None:
    history = make_history(api)
    windows = [{**AROUND_NOW, "reason": "year-end close"}]
    stored = api.ok(_freeze(api, history.id, windows))["freeze_windows"]
    assert [w["reason"] for w in stored] == ["year-end close"]
    assert stored[0]["repeat"] is None

    refused = plain_deploy(api, history, "v3")
    assert error_code(refused) == "deploy_frozen"
    assert "year-end close" in refused.json()["error"]["message"]
    editor_id, editor = api.new_user("editor")
    api.ok(
        api.put(
            f"/api/v1/deployments/{history.id}/members/{editor_id}",
            json={"role": "DEPLOYMENT_EDITOR"},
        )
    )
    overridden = plain_deploy(editor, history, "v3", freeze_override_reason="hotfix")
    assert error_code(overridden) == "permission_denied"
    assert error_code(plain_deploy(api, history, "v3", freeze_override_reason=" ")) == (
        "invalid_request"
    )
    assert len(api.history(history.id)) == 2  # every refusal recorded nothing

    hotfix = api.ok(
        plain_deploy(api, history, "v3", freeze_override_reason="payments hotfix INC-42"), 201
    )
    assert hotfix["freeze_override_reason"] == "payments hotfix INC-42"
    (event,) = events(api, "deploy.freeze_override")
    assert event["message"] == "payments hotfix INC-42"
    assert event["tarmac"]["deploy"]["id"] == hotfix["id"]
    # The rollback is the fix: a freeze never stops it.
    api.ok(rollback(editor, history, history.v1), 201)


def test_a_recurring_window_freezes_every_period_and_a_past_one_does_not(api: Api) -> None:
    history = make_history(api)
    start = NOW - timedelta(days=3, minutes=30)  # daily from three days ago, 1h long
    daily = {"start": _iso(start), "end": _iso(start + timedelta(hours=1)), "reason": "batch"}
    api.ok(_freeze(api, history.id, [{**daily, "repeat": "daily"}]))
    assert error_code(plain_deploy(api, history, "v3")) == "deploy_frozen"
    api.ok(_freeze(api, history.id, [daily]))  # the same window, once, three days ago
    api.ok(plain_deploy(api, history, "v3"), 201)
    api.ok(_freeze(api, history.id, []))
    assert deployment(api, history)["freeze_windows"] == []


def test_mark_bad_needs_rights_and_a_reason_and_shows_in_history(api: Api) -> None:
    history = make_history(api)
    path = f"/api/v1/deployments/{history.id}/deploys/{history.v1['id']}/mark-bad"
    viewer_id, viewer = api.new_user("viewer")
    api.ok(
        api.put(
            f"/api/v1/deployments/{history.id}/members/{viewer_id}",
            json={"role": "DEPLOYMENT_VIEWER"},
        )
    )
    assert error_code(viewer.post(path, json={"reason": "x"})) == "permission_denied"
    assert error_code(api.post(path, json={})) == "description_required"
    other = api.new_deployment("other")
    assert (
        error_code(
            api.post(
                f"/api/v1/deployments/{other['id']}/deploys/{history.v1['id']}/mark-bad",
                json={"reason": "x"},
            )
        )
        == "not_found"
    )
    assert api.history(history.id)[-1]["marked_bad"] is None

    marked = api.ok(api.post(path, json={"reason": "corrupts the orders table"}))
    assert marked["marked_bad"]["reason"] == "corrupts the orders table"
    assert marked["marked_bad"]["by"] == "admin"
    assert marked["marked_bad"]["at"]
    assert api.history(history.id)[-1]["marked_bad"]["reason"] == "corrupts the orders table"
    (event,) = events(api, "deploy.mark_bad")
    assert event["tarmac"]["deploy"]["id"] == history.v1["id"]

    refused = rollback(api, history, history.v1)
    assert error_code(refused) == "deploy_marked_bad"
    body = refused.json()["error"]
    assert body["acknowledge"] == "marked_bad"
    assert body["marked_bad"]["reason"] == "corrupts the orders table"
    assert error_code(rollback(api, history, history.v1, dry_run=True)) == "deploy_marked_bad"
    plan = api.ok(rollback(api, history, history.v1, dry_run=True, acknowledge=["marked_bad"]))
    assert plan["plan"]
    back = api.ok(rollback(api, history, history.v1, acknowledge=["marked_bad"]), 201)
    assert back["rollback_from_id"] == history.v1["id"]

    unmarked = api.ok(api.request("DELETE", path, json={"reason": "it was the warehouse"}))
    assert unmarked["marked_bad"] is None
    (event,) = events(api, "deploy.unmark_bad")
    assert event["tarmac"]["marked_bad"]["reason"] == "corrupts the orders table"


def test_last_good_skips_bad_deploys_and_never_picks_the_live_one(api: Api) -> None:
    history = make_history(api)
    v3 = api.ok(plain_deploy(api, history, "v3"), 201)
    last_good = f"/api/v1/deployments/{history.id}/deploys/last-good/rollback"
    plan = api.ok(api.post(last_good, json={"dry_run": True}))["plan"]
    assert plan["target_deploy_id"] == history.v2["id"]

    api.ok(
        api.post(
            f"/api/v1/deployments/{history.id}/deploys/{history.v2['id']}/mark-bad",
            json={"reason": "slow"},
        )
    )
    back = api.ok(api.post(last_good, json={"description": "v3 broke it"}), 201)
    assert back["rollback_from_id"] == history.v1["id"]
    # Now v1's code is live (as the rollback): last good is neither it nor v1 (same code),
    # nor the bad v2, so it is v3.
    again = api.ok(api.post(last_good, json={"dry_run": True}))["plan"]
    assert again["target_deploy_id"] == v3["id"]


def test_last_good_with_nothing_before_the_live_deploy_is_not_found(api: Api) -> None:
    dep = api.new_deployment("solo")
    api.ok(api.patch(f"/api/v1/deployments/{dep['id']}", json={"rollback_enabled": True}))
    last_good = f"/api/v1/deployments/{dep['id']}/deploys/last-good/rollback"
    assert error_code(api.post(last_good, json={"dry_run": True})) == "not_found"
