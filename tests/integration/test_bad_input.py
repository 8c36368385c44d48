"""Bad input gets 400 with a stable code, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.server import Api

GOOD = {"name": "ok", "runtime_version": "12.4.0", "dag_deploy_mode": "image"}

BAD_CREATES: list[tuple[Any, str]] = [
    ({**GOOD, "runtime_version": "99.0.0"}, "unknown_runtime_version"),
    ({**GOOD, "runtime_version": "latest"}, "unknown_runtime_version"),
    ({**GOOD, "dag_deploy_mode": "ftp"}, "invalid_request"),
    ({**GOOD, "name": ""}, "invalid_request"),
    ({**GOOD, "name": "   "}, "invalid_request"),
    ({**GOOD, "name": "x" * 10_000}, "invalid_request"),
    ({**GOOD, "description": "d" * 10_000}, "invalid_request"),
    ({**GOOD, "name": "tab\there"}, "invalid_request"),
    ({**GOOD, "name": "nul\x00byte"}, "invalid_request"),
    ({**GOOD, "name": 42}, "invalid_request"),
    ({**GOOD, "runtime_version": ["12.4.0"]}, "invalid_request"),
    ({**GOOD, "resources": "big"}, "invalid_request"),
    ({**GOOD, "resources": {"x": "y" * 20_000}}, "invalid_request"),
    ({**GOOD, "executor": "MagicExecutor"}, "invalid_request"),
    ({**GOOD, "env_vars": [{"key": "1BAD", "value": "v"}]}, "invalid_request"),
    (
        {**GOOD, "env_vars": [{"key": "A", "value": "1"}, {"key": "A", "value": "2"}]},
        "invalid_request",
    ),
    ({**GOOD, "env_vars": [{"key": "A"}]}, "invalid_request"),
    ({**GOOD, "unknown_field": 1}, "invalid_request"),
    ({"name": "missing-fields"}, "invalid_request"),
    ([1, 2, 3], "invalid_request"),
]


def _snapshot(api: Api) -> Any:
    return api.ok(api.get("/api/v1/deployments"))


@pytest.mark.parametrize(("body", "code"), BAD_CREATES)
def test_bad_create_is_refused_and_writes_nothing(api: Api, body: Any, code: str) -> None:
    before = _snapshot(api)
    response = api.post("/api/v1/deployments", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert _snapshot(api) == before


def test_malformed_json_and_wrong_content(api: Api) -> None:
    before = _snapshot(api)
    for raw in (b"{not json", b"", b"\xff\xfe", b'{"name": "a",}'):
        response = api.post(
            "/api/v1/deployments", content=raw, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, raw
        assert response.json()["error"]["code"] == "invalid_request"
    assert _snapshot(api) == before


def test_duplicate_name_is_refused(api: Api) -> None:
    api.new_deployment("twin")
    before = _snapshot(api)
    response = api.post("/api/v1/deployments", json={**GOOD, "name": "twin"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_exists"
    assert _snapshot(api) == before


def test_odd_unicode_round_trips(api: Api) -> None:
    name = "Ωmega 🚀 Straße ٣ \U0001d518"  # the last is MATHEMATICAL FRAKTUR CAPITAL U
    created = api.new_deployment(name, description="ǅ\u200d\u202etext")
    fetched = api.ok(api.get(f"/api/v1/deployments/{created['id']}"))
    assert fetched["name"] == name
    assert fetched["description"] == "ǅ\u200d\u202etext"


BAD_PATCHES: list[tuple[Any, str]] = [
    ({"name": ""}, "invalid_request"),
    ({"description": "z" * 10_000}, "invalid_request"),
    ({"rollback_enabled": "yes please"}, "invalid_request"),
    ({"runtime_version": "5.0.0"}, "invalid_request"),
    ({"dag_deploy_mode": "image"}, "invalid_request"),
    ({"env_vars": [{"key": "NEW", "value": None, "is_secret": True}]}, "invalid_request"),
]


@pytest.mark.parametrize(("body", "code"), BAD_PATCHES)
def test_bad_patch_is_refused_and_changes_nothing(api: Api, body: Any, code: str) -> None:
    created = api.new_deployment(
        "patchme", dag_deploy_mode="image", env_vars=[{"key": "A", "value": "1"}]
    )
    path = f"/api/v1/deployments/{created['id']}"
    response = api.patch(path, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code
    assert api.ok(api.get(path)) == created


def test_bad_users_and_members(api: Api) -> None:
    created = api.new_deployment("m", dag_deploy_mode="image")
    user_id, _ = api.new_user("member")
    for body in (
        {"username": ""},
        {"username": "a b"},
        {"username": "x" * 100},
        {"username": "ok", "system_role": "GOD"},
    ):
        response = api.post("/api/v1/users", json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "invalid_request"
    huge = api.post("/api/v1/users", json={"username": "x" * 10_000})
    assert huge.status_code == 413
    assert huge.json()["error"]["code"] == "request_too_large"
    bad_role = api.put(
        f"/api/v1/deployments/{created['id']}/members/{user_id}", json={"role": "OWNER"}
    )
    assert bad_role.status_code == 400
    missing = api.put(
        f"/api/v1/deployments/{created['id']}/members/nobody", json={"role": "DEPLOYMENT_VIEWER"}
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert api.get("/api/v1/deployments/does-not-exist").status_code == 404


def test_nul_characters_are_refused_everywhere_text_is_stored(api: Api) -> None:
    """Found by the API fuzzer: PostgreSQL refuses NUL in text, which was a 500."""
    dep = api.new_deployment("nul", dag_deploy_mode="image")
    user_id, _ = api.new_user("nul-user")
    path = f"/api/v1/deployments/{dep['id']}"
    for response in (
        api.post(f"/api/v1/users/{user_id}/tokens", json={"name": "a\x00b"}),
        api.patch(path, json={"description": "a\x00b"}),
        api.patch(path, json={"env_vars": [{"key": "A", "value": "a\x00b"}]}),
        api.deploy(dep["id"], type="IMAGE_ONLY", image="repo/img:1", description="a\x00b"),
    ):
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "invalid_request"
    assert api.history(dep["id"]) == []
