"""The hold banner, its Clear form and the bad mark through the UI's own forms (no browser)."""

from __future__ import annotations

from tests.integration.rollback_setup import make_history, rollback
from tests.integration.safe_ops_setup import deployment, events
from tests.integration.test_ui_support import history_path, new_login, signed_in
from tests.support.server import Api


def test_the_clear_form_needs_a_reason_and_deploy_rights(api: Api) -> None:
    history = make_history(api)
    api.ok(rollback(api, history, history.v1, description="v2 <broke> it"), 201)
    new_login(api, "vic", deployment_id=history.id, deployment_role="DEPLOYMENT_VIEWER")
    viewer = signed_in(api, "vic")
    page = viewer.get(history_path(history.id))
    assert 'id="hold-banner"' in page.text
    assert "v2 &lt;broke&gt; it" in page.text  # escaped
    assert 'id="clear-hold"' not in page.text
    refused = viewer.post(
        f"/ui/deployments/{history.id}/hold/clear",
        {"csrf_token": viewer.csrf(), "reason": "x"},
    )
    assert refused.status_code == 403

    new_login(api, "eddie", deployment_id=history.id, deployment_role="DEPLOYMENT_EDITOR")
    editor = signed_in(api, "eddie")
    action = f"/ui/deployments/{history.id}/hold/clear"
    blank = editor.submit(history_path(history.id), {"reason": "  "}, action=action)
    assert blank.status_code == 400
    assert 'id="form-error"' in blank.text
    assert deployment(api, history)["hold"] is not None
    done = editor.submit(history_path(history.id), {"reason": "fixed"}, action=action)
    assert done.status_code == 303
    assert deployment(api, history)["hold"] is None
    (event,) = events(api, "deployment.hold.clear")
    assert event["user"]["name"] == "eddie"
    page = editor.get(done.headers["location"])
    assert "Hold cleared" in page.text and 'id="hold-banner"' not in page.text


def test_holds_turned_off_say_so_in_the_banner(api: Api) -> None:
    history = make_history(api)
    api.ok(rollback(api, history, history.v1), 201)
    api.ok(api.patch(f"/api/v1/deployments/{history.id}", json={"rollback_hold_enabled": False}))
    new_login(api, "eddie", deployment_id=history.id, deployment_role="DEPLOYMENT_EDITOR")
    page = signed_in(api, "eddie").get(history_path(history.id))
    assert "Holds are off for this Deployment" in page.text


def test_marking_a_deploy_bad_from_history(api: Api) -> None:
    history = make_history(api)
    new_login(api, "eddie", deployment_id=history.id, deployment_role="DEPLOYMENT_EDITOR")
    editor = signed_in(api, "eddie")
    action = f"/ui/deployments/{history.id}/deploys/{history.v1['id']}/mark-bad"
    assert 'id="mark-bad-1"' in editor.get(history_path(history.id)).text
    blank = editor.submit(history_path(history.id), {"bad": "1", "reason": ""}, action=action)
    assert blank.status_code == 400 and 'id="form-error"' in blank.text
    done = editor.submit(history_path(history.id), {"bad": "1", "reason": "slow"}, action=action)
    assert done.status_code == 303
    mark = api.history(history.id)[-1]["marked_bad"]
    assert mark["reason"] == "slow" and mark["by"] == "eddie"
    page = editor.get(history_path(history.id))
    assert "by eddie: slow" in page.text and "Unmark #1" in page.text
    editor.submit(history_path(history.id), {"bad": "0", "reason": "was fine"}, action=action)
    assert api.history(history.id)[-1]["marked_bad"] is None
    new_login(api, "vic", deployment_id=history.id, deployment_role="DEPLOYMENT_VIEWER")
    viewer = signed_in(api, "vic")
    assert 'id="mark-bad-1"' not in viewer.get(history_path(history.id)).text
