"""Pinned deploys through the API and the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from typer.testing import CliRunner

from tarmac.cli import context as cli_context
from tarmac.cli.client import TarmacClient
from tarmac.cli.config import ClientConfig
from tarmac.cli.main import app as cli_app
from tarmac.db.base import utcnow
from tarmac.deploys.models import Deploy
from tarmac.installation.context import Installation
from tests.support.bundles import dag_file, make_bundle
from tests.support.server import Api


def pin_path(deployment_id: str, deploy_id: str) -> str:
    return f"/api/v1/deployments/{deployment_id}/deploys/{deploy_id}/pin"


def two_deploys(api: Api, name: str = "sales") -> tuple[dict[str, Any], dict[str, Any]]:
    deployment = api.new_deployment(name)
    first = api.ok(api.deploy(deployment["id"], dags=make_bundle({"a.py": dag_file("a")})), 201)
    api.ok(api.deploy(deployment["id"], dags=make_bundle({"b.py": dag_file("b")})), 201)
    return deployment, first


def pin_events(api: Api) -> list[str]:
    installation: Installation = api.client.app.state.installation  # type: ignore[attr-defined]
    actions = [e["event"]["action"] for e in installation.event_log.read()]
    return [a for a in actions if a in {"deploy.pin", "deploy.unpin"}]


def test_pin_and_unpin_return_the_deploy_and_log_each_change(api: Api) -> None:
    deployment, first = two_deploys(api)
    path = pin_path(deployment["id"], first["id"])

    pinned = api.ok(api.put(path))
    assert (pinned["id"], pinned["pinned"], pinned["is_current"]) == (first["id"], True, False)
    assert api.ok(api.put(path))["pinned"] is True  # idempotent: no second event
    shown = api.ok(api.get(f"/api/v1/deployments/{deployment['id']}/deploys/{first['id']}"))
    assert shown["pinned"] is True
    assert api.ok(api.request("DELETE", path))["pinned"] is False
    assert pin_events(api) == ["deploy.pin", "deploy.unpin"]


def test_a_pinned_deploy_survives_cleanup_and_an_unpinned_one_does_not(api: Api) -> None:
    deployment, first = two_deploys(api)
    installation: Installation = api.client.app.state.installation  # type: ignore[attr-defined]
    with installation.database.session(write=True) as session:
        session.execute(
            update(Deploy)
            .where(Deploy.id == first["id"])
            .values(created_at=utcnow() - timedelta(days=365))
        )
        session.commit()
    cleanup = "/api/v1/admin/cleanup-deploy-revisions"
    api.ok(api.put(pin_path(deployment["id"], first["id"])))
    assert api.ok(api.post(cleanup, json={"older_than_days": 30}))["deleted_deploys"] == 0

    api.ok(api.request("DELETE", pin_path(deployment["id"], first["id"])))
    assert api.ok(api.post(cleanup, json={"older_than_days": 30}))["deleted_deploys"] == 1
    assert (
        api.get(f"/api/v1/deployments/{deployment['id']}/deploys/{first['id']}").status_code == 404
    )


def test_pin_needs_the_permission_and_the_right_deployment(api: Api) -> None:
    deployment, first = two_deploys(api)
    other, _ = two_deploys(api, "other")
    path = pin_path(deployment["id"], first["id"])
    for role, status in (("DEPLOYMENT_VIEWER", 403), ("DEPLOYMENT_EDITOR", 200)):
        user_id, caller = api.new_user(role.lower())
        api.ok(
            api.put(
                f"/api/v1/deployments/{deployment['id']}/members/{user_id}", json={"role": role}
            )
        )
        assert caller.put(path).status_code == status
        assert caller.request("DELETE", path).status_code == status
    _, viewer = api.new_user("system-viewer", "SYSTEM_VIEWER")
    assert viewer.put(path).status_code == 403
    _, stranger = api.new_user("stranger")
    assert stranger.put(path).status_code == 403
    assert api.put(pin_path(other["id"], first["id"])).status_code == 404
    assert api.put(pin_path(deployment["id"], "0" * 32)).status_code == 404
    assert api.as_token(None).put(path).status_code == 401


def test_cli_pins_by_sequence_number(api: Api, monkeypatch: Any) -> None:
    deployment, first = two_deploys(api)
    client = TarmacClient(ClientConfig(server="http://testserver", token=None))
    client._http = api  # type: ignore[assignment]  # the Api helper speaks request(method, path)
    monkeypatch.setattr(cli_context, "make_client", lambda server, token: client)
    runner = CliRunner()

    result = runner.invoke(cli_app, ["deploys", "pin", deployment["name"], "#1", "-o", "json"])
    assert result.exit_code == 0, result.output
    assert (json.loads(result.stdout)["id"], json.loads(result.stdout)["pinned"]) == (
        first["id"],
        True,
    )
    result = runner.invoke(cli_app, ["deploys", "unpin", deployment["name"], first["id"]])
    assert result.exit_code == 0, result.output
    assert "no" in result.stdout
    result = runner.invoke(cli_app, ["deploys", "pin", deployment["name"], "99"])
    assert result.exit_code == 1
