"""The hold a rollback leaves: refuses plain deploys until cleared, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.integration.rollback_setup import error_code, make_history, rollback
from tests.integration.safe_ops_setup import deployment, events, hold_columns, plain_deploy
from tests.support.server import Api, running_tarmac


def test_a_rollback_holds_the_deployment_against_plain_deploys(api: Api) -> None:
    history = make_history(api)
    back = api.ok(rollback(api, history, history.v1, description="v2 broke the load"), 201)
    hold = deployment(api, history)["hold"]
    assert hold["deploy_id"] == back["id"]
    assert hold["set_by"] == "admin"
    assert hold["reason"] == "v2 broke the load"
    assert hold["set_at"]

    refused = plain_deploy(api, history, "v3")
    assert refused.status_code == 409
    assert error_code(refused) == "rollback_hold"
    message = refused.json()["error"]["message"]
    assert f"#{back['seq']}" in message and "admin" in message and "v2 broke the load" in message
    assert refused.json()["error"]["hold"]["deploy_id"] == back["id"]
    assert api.history(history.id)[0]["seq"] == back["seq"]  # nothing recorded
    # Another rollback is still allowed: it is the fix, and it holds in turn.
    again = api.ok(rollback(api, history, history.v2, description="v1 was worse"), 201)
    assert deployment(api, history)["hold"]["deploy_id"] == again["id"]
    assert [e["tarmac"]["hold"]["deploy_id"] for e in events(api, "deployment.hold.set")] == [
        back["id"],
        again["id"],
    ]


def test_clearing_the_hold_needs_deploy_rights_and_a_reason(api: Api) -> None:
    history = make_history(api)
    api.ok(rollback(api, history, history.v1), 201)
    path = f"/api/v1/deployments/{history.id}/hold"
    viewer_id, viewer = api.new_user("viewer")
    api.ok(
        api.put(
            f"/api/v1/deployments/{history.id}/members/{viewer_id}",
            json={"role": "DEPLOYMENT_VIEWER"},
        )
    )
    assert error_code(viewer.request("DELETE", path, json={"reason": "x"})) == "permission_denied"
    assert error_code(api.request("DELETE", path, json={})) == "description_required"
    assert error_code(api.request("DELETE", path, json={"reason": "  "})) == "description_required"
    assert error_code(api.request("DELETE", path, json={"why": "x"})) == "invalid_request"
    assert deployment(api, history)["hold"] is not None  # refusals changed nothing

    cleared = api.ok(api.request("DELETE", path, json={"reason": "fix merged in CI"}))
    assert cleared["hold"] is None
    assert hold_columns(api, history.id) == (None, None, None, None)
    api.ok(plain_deploy(api, history, "v3"), 201)
    (event,) = events(api, "deployment.hold.clear")
    assert event["message"] == "fix merged in CI"
    assert event["user"]["name"] == "admin"
    # Clearing when nothing is held is a no-op, not an error.
    assert api.ok(api.request("DELETE", path, json={"reason": "again"}))["hold"] is None
    assert len(events(api, "deployment.hold.clear")) == 1


def test_a_deploy_may_clear_the_hold_itself_and_that_is_recorded(api: Api) -> None:
    history = make_history(api)
    back = api.ok(rollback(api, history, history.v1), 201)
    assert error_code(plain_deploy(api, history, "v3", clear_hold="maybe")) == "invalid_request"
    assert deployment(api, history)["hold"] is not None
    new = api.ok(plain_deploy(api, history, "v3", clear_hold="true"), 201)
    assert new["cleared_hold"] is True
    assert deployment(api, history)["hold"] is None
    (created,) = [
        e for e in events(api, "deploy.create") if e["tarmac"]["deploy"]["id"] == new["id"]
    ]
    assert created["tarmac"]["waived"]["clear_hold"] == {"deploy_id": back["id"]}
    (cleared,) = events(api, "deployment.hold.clear")
    assert cleared["tarmac"]["cleared_by_deploy"]["id"] == new["id"]
    # Without a hold, clear_hold=true is accepted and records nothing.
    later = api.ok(plain_deploy(api, history, "v4", clear_hold="true"), 201)
    assert later["cleared_hold"] is False


def test_holds_can_be_turned_off_per_deployment(api: Api) -> None:
    history = make_history(api)
    patched = api.ok(
        api.patch(f"/api/v1/deployments/{history.id}", json={"rollback_hold_enabled": False})
    )
    assert patched["rollback_hold_enabled"] is False
    api.ok(rollback(api, history, history.v1), 201)
    assert deployment(api, history)["hold"] is None
    api.ok(plain_deploy(api, history, "v3"), 201)


def test_the_hold_survives_a_server_restart(database_url: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_tarmac(data_dir=data_dir, database_url=database_url) as api:
        history = make_history(api)
        back = api.ok(rollback(api, history, history.v1), 201)
    with running_tarmac(data_dir=data_dir, database_url=database_url) as api:
        assert deployment(api, history)["hold"]["deploy_id"] == back["id"]
        assert error_code(plain_deploy(api, history, "v3")) == "rollback_hold"


def test_a_concurrent_deploy_and_hold_clear_never_leave_it_half_set(api: Api) -> None:
    history = make_history(api)
    for round_ in range(4):
        back = api.ok(rollback(api, history, history.v1 if round_ % 2 == 0 else history.v2), 201)
        assert hold_columns(api, history.id)[0] == back["id"]
        results = _race(
            lambda marker=f"r{round_}": plain_deploy(api, history, marker),
            lambda: api.request(
                "DELETE", f"/api/v1/deployments/{history.id}/hold", json={"reason": "race"}
            ),
        )
        assert results[1].status_code == 200, results[1].text
        assert hold_columns(api, history.id) == (None, None, None, None)
        outcome = results[0]
        # Either the clear went first and the deploy went live, or the deploy saw the hold.
        assert outcome.status_code in (201, 409), outcome.text
        if outcome.status_code == 409:
            assert error_code(outcome) == "rollback_hold"
        live = deployment(api, history)["current_deploy_id"]
        assert live == (outcome.json()["id"] if outcome.status_code == 201 else back["id"])


def _race(*actions: Callable[[], Any]) -> list[Any]:
    """Run the actions at once (released together by a barrier); their results in order."""
    results: list[Any] = [None] * len(actions)
    start = threading.Barrier(len(actions))

    def run(index: int) -> None:
        start.wait()
        results[index] = actions[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
