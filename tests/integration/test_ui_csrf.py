"""Every UI form needs the session's CSRF token; without it nothing changes."""

from __future__ import annotations

from tests.integration.rollback_setup import make_history
from tests.integration.test_ui_support import (
    dialog_path,
    new_login,
    settings_path,
    signed_in,
)
from tests.support.server import Api

FORM = {"name": "renamed", "rollback_enabled": "on", "resources": "{}", "env-count": "0"}


def test_settings_post_without_or_with_a_wrong_token_is_refused(api: Api) -> None:
    history = make_history(api, rollback_enabled=False)
    new_login(api, "eddie", deployment_id=history.id, deployment_role="DEPLOYMENT_EDITOR")
    new_login(api, "mallory", deployment_id=history.id, deployment_role="DEPLOYMENT_EDITOR")
    browser = signed_in(api, "eddie")
    others_token = signed_in(api, "mallory").csrf()
    for token in (None, "", "not-a-token", others_token):
        data = dict(FORM) if token is None else {**FORM, "csrf_token": token}
        response = browser.post(settings_path(history.id), data)
        assert response.status_code == 403, token
        assert "Form expired" in response.text
    after = api.ok(api.get(f"/api/v1/deployments/{history.id}"))
    assert after["name"] == "sales" and after["rollback_enabled"] is False


def test_rollback_post_without_the_token_is_refused(api: Api) -> None:
    history = make_history(api)
    new_login(api, "eddie", deployment_id=history.id, deployment_role="DEPLOYMENT_EDITOR")
    browser = signed_in(api, "eddie")
    response = browser.post(dialog_path(history.id, history.v1["id"]), {"description": "no token"})
    assert response.status_code == 403
    assert len(api.history(history.id)) == 2


def test_token_in_a_query_string_does_not_count(api: Api) -> None:
    history = make_history(api)
    new_login(api, "eddie", deployment_id=history.id, deployment_role="DEPLOYMENT_EDITOR")
    browser = signed_in(api, "eddie")
    token = browser.csrf()
    response = browser.post(
        f"{dialog_path(history.id, history.v1['id'])}?csrf_token={token}",
        {"description": "query token"},
    )
    assert response.status_code == 403
    assert len(api.history(history.id)) == 2
