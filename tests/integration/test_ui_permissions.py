"""The UI shows only what a user's roles allow, and the server refuses the rest anyway."""

from __future__ import annotations

import re

from tests.integration.rollback_setup import make_history
from tests.integration.test_ui_support import (
    deploy_buttons,
    dialog_path,
    history_path,
    new_login,
    settings_path,
    signed_in,
)
from tests.support.server import Api


def test_viewer_sees_the_history_but_no_deploy_button(api: Api) -> None:
    history = make_history(api, runtime_v1="11.3.0", runtime_v2="12.4.0")
    new_login(api, "vic", deployment_id=history.id, deployment_role="DEPLOYMENT_VIEWER")
    page = signed_in(api, "vic").get(history_path(history.id))
    assert page.status_code == 200
    assert re.findall(r'<tr id="deploy-(\d+)"', page.text) == ["2", "1"]
    assert deploy_buttons(page.text) == 0
    assert "not roll it back: that needs the Deployment Editor or Deployment Admin" in page.text
    assert "images.push" not in page.text  # plain words, not internal permission names


def test_viewers_forged_rollback_post_is_refused_and_changes_nothing(api: Api) -> None:
    history = make_history(api, runtime_v1="11.3.0", runtime_v2="12.4.0")
    new_login(api, "vic", deployment_id=history.id, deployment_role="DEPLOYMENT_VIEWER")
    viewer = signed_in(api, "vic")
    response = viewer.post(
        dialog_path(history.id, history.v1["id"]),
        {
            "csrf_token": viewer.csrf(),  # a valid token of the viewer's own session
            "description": "forged",
            "acknowledge": ["data_loss", "running_tasks"],
        },
    )
    assert response.status_code == 403
    assert "deployment.images.push" in response.text
    deployment = api.ok(api.get(f"/api/v1/deployments/{history.id}"))
    assert deployment["current_deploy_id"] == history.v2["id"]
    assert len(api.history(history.id)) == 2


def test_viewers_settings_are_read_only_and_a_forged_save_is_refused(api: Api) -> None:
    history = make_history(api, rollback_enabled=False)
    new_login(api, "vic", deployment_id=history.id, deployment_role="DEPLOYMENT_VIEWER")
    viewer = signed_in(api, "vic")
    page = viewer.get(settings_path(history.id))
    assert page.status_code == 200
    assert "<fieldset disabled>" in page.text and 'id="save-settings"' not in page.text
    response = viewer.post(
        settings_path(history.id),
        {
            "csrf_token": viewer.csrf(),
            "name": "hijacked",
            "rollback_enabled": "on",
            "resources": "{}",
            "env-count": "0",
        },
    )
    assert response.status_code == 403
    after = api.ok(api.get(f"/api/v1/deployments/{history.id}"))
    assert after["name"] == "sales" and after["rollback_enabled"] is False
    assert after["resources"] == history.deployment["resources"]


def test_outsider_cannot_see_a_deployment(api: Api) -> None:
    history = make_history(api)
    make_history(api, name="other")
    new_login(api, "out")
    outsider = signed_in(api, "out")
    assert "sales" not in outsider.get("/ui/deployments").text
    for path in (
        history_path(history.id),
        settings_path(history.id),
        dialog_path(history.id, history.v1["id"]),
    ):
        response = outsider.get(path)
        assert response.status_code == 403
        assert "lacks the permission" in response.text


def test_a_deploy_of_another_deployment_is_not_found(api: Api) -> None:
    sales = make_history(api)
    other = make_history(api, name="other")
    new_login(api, "root", system_role="SYSTEM_ADMIN")
    response = signed_in(api, "root").get(dialog_path(sales.id, other.v1["id"]))
    assert response.status_code == 404


def test_pin_and_unpin_from_the_history_page(api: Api) -> None:
    history = make_history(api)
    new_login(api, "eddie", deployment_id=history.id, deployment_role="DEPLOYMENT_EDITOR")
    editor = signed_in(api, "eddie")
    page = editor.get(history_path(history.id))
    assert page.text.count('class="pin-button"') == 2
    pin_path = f"/ui/deployments/{history.id}/deploys/{history.v1['id']}/pin"
    pinned = editor.post(pin_path, {"csrf_token": editor.csrf(), "pinned": "1"})
    assert pinned.status_code in (200, 303)
    assert api.ok(api.get(f"/api/v1/deployments/{history.id}/deploys/{history.v1['id']}"))["pinned"]
    editor.post(pin_path, {"csrf_token": editor.csrf(), "pinned": "0"})
    assert not api.ok(api.get(f"/api/v1/deployments/{history.id}/deploys/{history.v1['id']}"))[
        "pinned"
    ]


def test_viewer_sees_no_pin_button_and_a_forged_pin_is_refused(api: Api) -> None:
    history = make_history(api)
    new_login(api, "vic", deployment_id=history.id, deployment_role="DEPLOYMENT_VIEWER")
    viewer = signed_in(api, "vic")
    assert 'class="pin-button"' not in viewer.get(history_path(history.id)).text
    pin_path = f"/ui/deployments/{history.id}/deploys/{history.v1['id']}/pin"
    response = viewer.post(pin_path, {"csrf_token": viewer.csrf(), "pinned": "1"})
    assert response.status_code == 403
    assert not api.ok(api.get(f"/api/v1/deployments/{history.id}/deploys/{history.v1['id']}"))[
        "pinned"
    ]
