"""Helpers for the web UI tests (no tests here): browser-like clients with cookies and CSRF."""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi.testclient import TestClient

from tests.support.server import Api

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_DEPLOY_BUTTON = re.compile(r'<a class="button" href="[^"]+/rollback"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def deploy_buttons(html: str) -> int:
    """How many Deploy (roll back) buttons a history page shows."""
    return len(_DEPLOY_BUTTON.findall(html))


def new_login(
    api: Api,
    username: str,
    *,
    system_role: str | None = None,
    deployment_id: str | None = None,
    deployment_role: str | None = None,
) -> str:
    """A user with a password (and optionally a Deployment role); returns its id."""
    user = api.ok(
        api.post(
            "/api/v1/users",
            json={"username": username, "system_role": system_role, "password": PASSWORD},
        ),
        201,
    )
    if deployment_id and deployment_role:
        api.ok(
            api.put(
                f"/api/v1/deployments/{deployment_id}/members/{user['id']}",
                json={"role": deployment_role},
            )
        )
    return str(user["id"])


class Browser:
    """One browser: its own cookie jar, following the UI's forms like a person would."""

    def __init__(self, api: Api, *, https: bool = False) -> None:
        base = "https://testserver" if https else "http://testserver"
        self.client = TestClient(api.client.app, base_url=base, follow_redirects=False)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict[str, Any], **kwargs: Any) -> httpx.Response:
        return self.client.post(path, data=data, **kwargs)

    def login(self, username: str, password: str = PASSWORD) -> httpx.Response:
        token = csrf_of(self.get("/ui/login").text)
        return self.post(
            "/ui/login", {"csrf_token": token, "username": username, "password": password}
        )

    def submit(
        self, page_path: str, data: dict[str, Any], action: str | None = None
    ) -> httpx.Response:
        """GET the page, then POST ``data`` with that page's CSRF token (to ``action``)."""
        page = self.get(page_path)
        assert page.status_code == 200, page.text
        return self.post(action or page_path, {"csrf_token": csrf_of(page.text), **data})

    def csrf(self) -> str:
        """This session's CSRF token, as any signed-in page carries it (the sign-out form)."""
        return csrf_of(self.get("/ui/deployments").text)


def signed_in(api: Api, username: str, **kwargs: Any) -> Browser:
    browser = Browser(api, **kwargs)
    response = browser.login(username)
    assert response.status_code == 303, response.text
    return browser


def history_path(deployment_id: str) -> str:
    return f"/ui/deployments/{deployment_id}/history"


def dialog_path(deployment_id: str, deploy_id: str) -> str:
    return f"/ui/deployments/{deployment_id}/deploys/{deploy_id}/rollback"


def settings_path(deployment_id: str) -> str:
    return f"/ui/deployments/{deployment_id}/settings"
