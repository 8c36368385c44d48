"""Every role against every endpoint of the foundation: allowed, or 403; no token is 401."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.support.server import Api

ROLES = [
    "SYSTEM_ADMIN",
    "SYSTEM_EDITOR",
    "SYSTEM_VIEWER",
    "DEPLOYMENT_ADMIN",
    "DEPLOYMENT_EDITOR",
    "DEPLOYMENT_VIEWER",
    "NO_ROLE",
]

Call = Callable[[Api, dict[str, Any]], httpx.Response]

ENDPOINTS: dict[str, tuple[Call, int, set[str]]] = {
    "GET installation": (lambda a, c: a.get("/api/v1/installation"), 200, set(ROLES)),
    "GET runtimes": (lambda a, c: a.get("/api/v1/runtimes"), 200, set(ROLES)),
    "POST users": (
        lambda a, c: a.post("/api/v1/users", json={"username": f"new-{c['role'].lower()}"}),
        201,
        {"SYSTEM_ADMIN"},
    ),
    "POST own token": (
        lambda a, c: a.post(f"/api/v1/users/{c['user_id']}/tokens", json={"name": "mine"}),
        201,
        set(ROLES),
    ),
    "POST someone else's token": (
        lambda a, c: a.post(f"/api/v1/users/{c['other_id']}/tokens", json={"name": "theirs"}),
        201,
        {"SYSTEM_ADMIN"},
    ),
    "POST deployments": (
        lambda a, c: a.post(
            "/api/v1/deployments",
            json={
                "name": f"d-{c['role']}",
                "runtime_version": "12.4.0",
                "dag_deploy_mode": "image",
            },
        ),
        201,
        {"SYSTEM_ADMIN", "SYSTEM_EDITOR"},
    ),
    "GET deployment": (
        lambda a, c: a.get(f"/api/v1/deployments/{c['deployment_id']}"),
        200,
        set(ROLES) - {"NO_ROLE"},
    ),
    "GET deploy history": (
        lambda a, c: a.get(f"/api/v1/deployments/{c['deployment_id']}/deploys"),
        200,
        set(ROLES) - {"NO_ROLE"},
    ),
    "PATCH deployment": (
        lambda a, c: a.patch(
            f"/api/v1/deployments/{c['deployment_id']}", json={"description": c["role"]}
        ),
        200,
        {"SYSTEM_ADMIN", "SYSTEM_EDITOR", "DEPLOYMENT_ADMIN", "DEPLOYMENT_EDITOR"},
    ),
    "PUT member": (
        lambda a, c: a.put(
            f"/api/v1/deployments/{c['deployment_id']}/members/{c['other_id']}",
            json={"role": "DEPLOYMENT_VIEWER"},
        ),
        200,
        {"SYSTEM_ADMIN", "DEPLOYMENT_ADMIN"},
    ),
}


def _as_role(api: Api, role: str) -> tuple[Api, dict[str, Any]]:
    deployment = api.new_deployment("matrix", dag_deploy_mode="image")
    other_id, _ = api.new_user("other")
    system_role = role if role.startswith("SYSTEM_") else None
    user_id, caller = api.new_user(f"u-{role.lower()}", system_role)
    if role.startswith("DEPLOYMENT_"):
        api.ok(
            api.put(
                f"/api/v1/deployments/{deployment['id']}/members/{user_id}", json={"role": role}
            )
        )
    context = {
        "role": role,
        "user_id": user_id,
        "other_id": other_id,
        "deployment_id": deployment["id"],
    }
    return caller, context


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(api: Api, role: str) -> None:
    caller, context = _as_role(api, role)
    for name, (call, success, allowed) in ENDPOINTS.items():
        response = call(caller, context)
        if role in allowed:
            assert response.status_code == success, f"{role} {name}: {response.text}"
        else:
            assert response.status_code == 403, f"{role} {name}: {response.text}"
            assert response.json()["error"]["code"] == "permission_denied"


def test_no_token_bad_token_and_revoked_token_are_401(api: Api) -> None:
    caller, context = _as_role(api, "SYSTEM_ADMIN")
    token = caller.ok(
        caller.post(f"/api/v1/users/{context['user_id']}/tokens", json={"name": "short-lived"}),
        201,
    )
    caller.ok(caller.request("DELETE", f"/api/v1/users/{context['user_id']}/tokens/{token['id']}"))
    for bad in (None, "not-a-token", token["token"]):
        anonymous = api.as_token(bad)
        for name, (call, _success, _allowed) in ENDPOINTS.items():
            response = call(anonymous, context)
            assert response.status_code == 401, f"{bad} {name}: {response.text}"
            assert response.json()["error"]["code"] == "unauthenticated"
