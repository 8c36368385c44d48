"""The Deployments area of the API contract (DESIGN §6), on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import stat

from tests.support.server import Api


def test_healthz_needs_no_token(api: Api) -> None:
    assert api.as_token(None).get("/healthz").json() == {"status": "ok"}


def test_openapi_and_docs_are_served(api: Api) -> None:
    spec = api.get("/openapi.json").json()
    assert "/api/v1/deployments/{deployment_id}" in spec["paths"]
    assert api.get("/docs").status_code == 200


def test_create_get_list_deployment(api: Api) -> None:
    created = api.new_deployment(
        "Sales ETL",
        description="nightly sales",
        executor="KubernetesExecutor",
        resources={"scheduler": {"replicas": 2}},
        env_vars=[
            {"key": "REGION", "value": "eu"},
            {"key": "PW", "value": "s3cret", "is_secret": True},
        ],
    )
    assert created["name"] == "Sales ETL"
    assert created["release_name"].startswith("sales-etl-")
    assert created["runtime_version"] == "12.4.0"
    assert created["airflow_version"].startswith("2.10.")
    assert created["executor"] == "KubernetesExecutor"
    assert created["dag_deploy_mode"] == "dag_deploy"
    assert created["rollback_enabled"] is False
    assert created["current_deploy_id"] is None
    assert created["env_vars"] == [
        {"key": "REGION", "value": "eu", "is_secret": False},
        {"key": "PW", "value": None, "is_secret": True},
    ]
    fetched = api.ok(api.get(f"/api/v1/deployments/{created['id']}"))
    assert fetched == created
    listed = api.ok(api.get("/api/v1/deployments"))
    assert [d["id"] for d in listed["items"]] == [created["id"]]


def test_release_names_are_unique_and_url_safe(api: Api) -> None:
    names = {api.new_deployment(f"Ünïcode déployment {i}!")["release_name"] for i in range(5)}
    assert len(names) == 5
    for name in names:
        assert all(c.isascii() and (c.isalnum() or c == "-") for c in name)


def test_secret_values_are_encrypted_at_rest(api: Api, tmp_path: object) -> None:
    created = api.new_deployment(
        env_vars=[{"key": "PW", "value": "hunter2-plain", "is_secret": True}]
    )
    installation = api.client.app.state.installation  # type: ignore[attr-defined]
    with installation.database.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT value FROM deployment_env_vars").scalar_one()
    assert "hunter2-plain" not in stored
    assert installation.secrets.decrypt(stored) == "hunter2-plain"
    assert created["env_vars"][0]["value"] is None


def test_generated_secret_key_file_is_owner_only(database_url: str, tmp_path: object) -> None:
    from pathlib import Path

    from tests.support.server import running_tarmac

    data = Path(str(tmp_path)) / "keyless"
    with running_tarmac(data_dir=data, database_url=database_url, secret_key=None):
        pass
    mode = stat.S_IMODE(os.stat(data / "secret.key").st_mode)
    assert mode == 0o600


def test_patch_changes_settings_and_keeps_secrets(api: Api) -> None:
    created = api.new_deployment(env_vars=[{"key": "PW", "value": "x", "is_secret": True}])
    path = f"/api/v1/deployments/{created['id']}"
    patched = api.ok(
        api.patch(
            path,
            json={
                "name": "renamed",
                "description": "new words",
                "executor": "LocalExecutor",
                "resources": {"workers": {"replicas": 3}},
                "env_vars": [
                    {"key": "PW", "value": None, "is_secret": True},
                    {"key": "B", "value": "2"},
                ],
                "rollback_enabled": True,
            },
        )
    )
    assert patched["name"] == "renamed"
    assert patched["description"] == "new words"
    assert patched["executor"] == "LocalExecutor"
    assert patched["resources"] == {"workers": {"replicas": 3}}
    assert patched["rollback_enabled"] is True
    assert patched["env_vars"] == [
        {"key": "PW", "value": None, "is_secret": True},
        {"key": "B", "value": "2", "is_secret": False},
    ]
    installation = api.client.app.state.installation  # type: ignore[attr-defined]
    with installation.database.engine.connect() as conn:
        stored = conn.exec_driver_sql(
            "SELECT value FROM deployment_env_vars WHERE key = 'PW'"
        ).scalar_one()
    assert installation.secrets.decrypt(stored) == "x"


def test_rollback_toggle_needs_the_installation(database_url: str, tmp_path: object) -> None:
    from pathlib import Path

    from tests.support.server import running_tarmac

    with running_tarmac(
        data_dir=Path(str(tmp_path)) / "d", database_url=database_url, values=None
    ) as api:
        created = api.new_deployment(dag_deploy_mode="image")
        response = api.patch(
            f"/api/v1/deployments/{created['id']}", json={"rollback_enabled": True}
        )
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "rollback_disabled"
        assert "global.deployRollbackEnabled" in response.json()["error"]["message"]
        after = api.ok(api.get(f"/api/v1/deployments/{created['id']}"))
        assert after["rollback_enabled"] is False
        # dag_deploy mode needs the DAG-only flag too
        refused = api.post(
            "/api/v1/deployments",
            json={"name": "d", "runtime_version": "12.4.0", "dag_deploy_mode": "dag_deploy"},
        )
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "dag_deploy_disabled"


def test_members_grant_access(api: Api) -> None:
    created = api.new_deployment()
    user_id, viewer = api.new_user("vera")
    assert viewer.ok(viewer.get("/api/v1/deployments"))["items"] == []
    assert viewer.get(f"/api/v1/deployments/{created['id']}").status_code == 403
    api.ok(
        api.put(
            f"/api/v1/deployments/{created['id']}/members/{user_id}",
            json={"role": "DEPLOYMENT_VIEWER"},
        )
    )
    assert [d["id"] for d in viewer.ok(viewer.get("/api/v1/deployments"))["items"]] == [
        created["id"]
    ]
    assert viewer.ok(viewer.get(f"/api/v1/deployments/{created['id']}"))["id"] == created["id"]


def test_installation_and_runtimes(api: Api) -> None:
    flags = api.ok(api.get("/api/v1/installation"))
    assert flags["deploy_rollback_enabled"] is True
    assert flags["cleanup_deploy_revisions"] == {"enabled": True, "older_than_days": 90}
    runtimes = api.ok(api.get("/api/v1/runtimes"))["items"]
    by_version = {r["version"]: r for r in runtimes}
    assert by_version["5.0.0"]["airflow_version"].startswith("2.3")
    assert by_version["8.0.0"]["restricted"] is True
    assert by_version["8.0.0"]["restricted_reason"]
    assert {"version", "airflow_version", "restricted", "restricted_reason"} <= set(runtimes[0])


def test_events_are_written_for_setting_changes(api: Api) -> None:
    created = api.new_deployment()
    api.ok(api.patch(f"/api/v1/deployments/{created['id']}", json={"description": "x"}))
    installation = api.client.app.state.installation  # type: ignore[attr-defined]
    actions = [e["event"]["action"] for e in installation.event_log.read()]
    assert actions[-2:] == ["deployment.create", "deployment.update"]


def test_tokens_are_revocable(api: Api) -> None:
    user_id, user = api.new_user("tom")
    me = user.ok(user.get("/api/v1/users/me"))
    assert me["username"] == "tom"
    token = user.ok(user.post(f"/api/v1/users/{user_id}/tokens", json={"name": "second"}), 201)
    second = api.as_token(token["token"])
    assert second.get("/api/v1/users/me").status_code == 200
    user.ok(user.request("DELETE", f"/api/v1/users/{user_id}/tokens/{token['id']}"))
    revoked = second.get("/api/v1/users/me")
    assert revoked.status_code == 401
    assert revoked.json()["error"]["code"] == "unauthenticated"


def test_source_snippet_values_file_reported_by_the_api(
    database_url: str, tmp_path: object
) -> None:
    """Rule 14: the source document's snippet, pasted verbatim, as /api/v1/installation sees it."""
    from pathlib import Path

    from tests.support.server import running_tarmac
    from tests.unit.installation.test_values import SOURCE_SNIPPET

    with running_tarmac(
        data_dir=Path(str(tmp_path)) / "snippet", database_url=database_url, values=SOURCE_SNIPPET
    ) as api:
        flags = api.ok(api.get("/api/v1/installation"))
    assert flags["deploy_rollback_enabled"] is True
    assert flags["update_deployment_image_endpoint_enabled"] is True
    assert flags["cleanup_deploy_revisions"] == {"enabled": True, "older_than_days": 90}
    assert flags["dag_only_deployment_enabled"] is False
