"""One test per rule of DESIGN §3 (1-11), through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.e2e.live_state import bundle_files
from tests.integration.rollback_setup import (
    BUNDLE_V1,
    History,
    error_code,
    make_history,
    rollback,
)
from tests.integration.test_deploys_api import live_files
from tests.support.server import ALL_FLAGS_ON, Api, running_tarmac

FLAG_LINES = {
    "global.deployRollbackEnabled": ("global:\n  deployRollbackEnabled: true\n"),
    "astronomer...enableUpdateDeploymentImageEndpoint": (
        "astronomer:\n  houston:\n    config:\n      deployments:\n"
        "        enableUpdateDeploymentImageEndpoint: true\n"
    ),
    "global.dagOnlyDeployment.enabled": "global:\n  dagOnlyDeployment:\n    enabled: true\n",
}


def _age(api: Api, deploy: dict[str, Any], days: float) -> None:
    installation = api.client.app.state.installation  # type: ignore[attr-defined]
    when = datetime.now(UTC) - timedelta(days=days)
    if installation.database.engine.dialect.name == "sqlite":
        when = when.replace(tzinfo=None)
    with installation.database.engine.begin() as conn:
        conn.execute(
            text("UPDATE deploys SET created_at = :t WHERE id = :i"), {"t": when, "i": deploy["id"]}
        )


def _deployment(api: Api, history: History) -> dict[str, Any]:
    return api.ok(api.get(f"/api/v1/deployments/{history.id}"))  # type: ignore[no-any-return]


# Rule 1 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("DEPLOYMENT_VIEWER", False),
        ("DEPLOYMENT_EDITOR", True),
        ("DEPLOYMENT_ADMIN", True),
        ("SYSTEM_ADMIN", True),
        ("SYSTEM_VIEWER", False),
        ("SYSTEM_EDITOR", False),
    ],
)
def test_rule_01_permission(api: Api, role: str, allowed: bool) -> None:
    history = make_history(api)
    system_role = role if role.startswith("SYSTEM_") else None
    user_id, caller = api.new_user("caller", system_role)
    if not system_role:
        api.ok(api.put(f"/api/v1/deployments/{history.id}/members/{user_id}", json={"role": role}))
    response = rollback(caller, history, history.v1)
    if allowed:
        assert response.status_code == 201, response.text
        assert response.json()["created_by"] == "caller"
    else:
        assert response.status_code == 403
        assert error_code(response) == "permission_denied"
        assert len(api.history(history.id)) == 2


# Rule 2 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", sorted(FLAG_LINES))
def test_rule_02_each_installation_flag_off_refuses(
    database_url: str, tmp_path: Path, missing: str
) -> None:
    values = "".join(v for k, v in FLAG_LINES.items() if k != missing)
    # Build the history with everything on, then restart with one flag missing.
    data = tmp_path / "data"
    with running_tarmac(data_dir=data, database_url=database_url) as api:
        history = make_history(api)
    with running_tarmac(data_dir=data, database_url=database_url, values=values) as api:
        response = rollback(api, history, history.v1)
        assert response.status_code == 409
        assert error_code(response) == "rollback_disabled"
        assert len(api.history(history.id)) == 2


# Rule 3 -------------------------------------------------------------------------------------


def test_rule_03_deployment_toggle_off_refuses_and_is_off_by_default(api: Api) -> None:
    history = make_history(api, rollback_enabled=False)
    assert _deployment(api, history)["rollback_enabled"] is False
    response = rollback(api, history, history.v1)
    assert response.status_code == 409
    assert error_code(response) == "rollback_not_enabled"
    api.ok(api.patch(f"/api/v1/deployments/{history.id}", json={"rollback_enabled": True}))
    assert rollback(api, history, history.v1).status_code == 201


# Rule 4 -------------------------------------------------------------------------------------


def test_rule_04_deploys_older_than_the_window_cannot_be_targets(api: Api) -> None:
    history = make_history(api)
    _age(api, history.v1, days=91)
    response = rollback(api, history, history.v1)
    assert response.status_code == 409
    assert error_code(response) == "deploy_too_old"
    _age(api, history.v1, days=89)
    assert rollback(api, history, history.v1).status_code == 201


def test_rule_04_older_than_zero_makes_every_deploy_too_old(
    database_url: str, tmp_path: Path
) -> None:
    values = ALL_FLAGS_ON.replace("olderThan: 90", "olderThan: 0")
    with running_tarmac(data_dir=tmp_path / "d", database_url=database_url, values=values) as api:
        history = make_history(api)
        response = rollback(api, history, history.v1)
        assert response.status_code == 409
        assert error_code(response) == "deploy_too_old"


# Rule 5 -------------------------------------------------------------------------------------


def test_rule_05_target_runtime_below_5_is_refused(api: Api) -> None:
    history = make_history(api, runtime_v1="4.2.0", runtime_v2="12.4.0")
    response = rollback(api, history, history.v1)
    assert response.status_code == 409
    assert error_code(response) == "runtime_unsupported"


def test_rule_05_current_runtime_below_5_is_refused(api: Api) -> None:
    history = make_history(api, runtime_v1="4.0.0", runtime_v2="4.2.0")
    response = rollback(api, history, history.v1)
    assert response.status_code == 409
    assert error_code(response) == "runtime_unsupported"


def test_rule_05_runtime_5_0_0_is_supported(api: Api) -> None:
    history = make_history(api, runtime_v1="5.0.0", runtime_v2="5.1.0")
    response = rollback(api, history, history.v1, acknowledge=["data_loss"])
    assert response.status_code == 201, response.text


# Rule 6 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["nfs", "git_sync"])
def test_rule_06_nfs_and_git_sync_cannot_roll_back(api: Api, mode: str) -> None:
    history = make_history(api, mode=mode)
    response = rollback(api, history, history.v1)
    assert response.status_code == 409
    assert error_code(response) == "deploy_mechanism_unsupported"


@pytest.mark.parametrize("mode", ["image", "dag_deploy"])
def test_rule_06_image_and_dag_deploy_can_roll_back(api: Api, mode: str) -> None:
    history = make_history(api, mode=mode)
    assert rollback(api, history, history.v1).status_code == 201


# Rule 7 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("description", ["", "   ", "\n\t ", None])
def test_rule_07_description_is_required(api: Api, description: str | None) -> None:
    history = make_history(api)
    body: dict[str, Any] = {"description": description}
    response = api.post(
        f"/api/v1/deployments/{history.id}/deploys/{history.v1['id']}/rollback", json=body
    )
    assert response.status_code == 400
    assert error_code(response) == "description_required"
    assert len(api.history(history.id)) == 2


def test_rule_07_description_is_trimmed_and_limited_to_500(api: Api) -> None:
    history = make_history(api)
    too_long = rollback(api, history, history.v1, description="x" * 501)
    assert too_long.status_code == 400
    done = api.ok(rollback(api, history, history.v1, description="  why: v2 broke  "), 201)
    assert done["description"] == "why: v2 broke"


# Rule 8 -------------------------------------------------------------------------------------


def test_rule_08_code_runtime_and_dag_setting_roll_back_and_nothing_else(api: Api) -> None:
    history = make_history(api, runtime_v1="12.3.0", runtime_v2="12.4.0")
    api.ok(
        api.patch(
            f"/api/v1/deployments/{history.id}",
            json={"description": "changed after v2", "resources": {"workers": {"replicas": 9}}},
        )
    )
    before = _deployment(api, history)
    new = api.ok(rollback(api, history, history.v1, acknowledge=["data_loss"]), 201)
    after = _deployment(api, history)
    for kept in (
        "name",
        "description",
        "executor",
        "resources",
        "env_vars",
        "release_name",
        "rollback_enabled",
        "created_at",
        "updated_at",
    ):
        assert after[kept] == before[kept], kept
    assert after["runtime_version"] == history.v1["runtime_version"] == new["runtime_version"]
    assert after["airflow_version"] == history.v1["airflow_version"]
    assert after["dag_deploy_mode"] == "dag_deploy"
    assert new["image"] == history.v1["image"]
    assert new["bundle_sha256"] == history.v1["bundle_sha256"]
    assert live_files(api, after["release_name"]) == bundle_files(BUNDLE_V1)
    installation = api.client.app.state.installation  # type: ignore[attr-defined]
    with installation.database.engine.connect() as conn:
        secret = conn.execute(
            text("SELECT value FROM deployment_env_vars WHERE key='PW'")
        ).scalar_one()
    assert installation.secrets.decrypt(secret) == "s"


def test_rule_08_dag_deploy_setting_goes_back(api: Api) -> None:
    """A target made in image mode turns DAG-only deploys off again."""
    history = make_history(api, mode="image")
    installation = api.client.app.state.installation  # type: ignore[attr-defined]
    with installation.database.engine.begin() as conn:  # the mode was switched to dag_deploy
        conn.execute(
            text("UPDATE deployments SET dag_deploy_mode='dag_deploy' WHERE id=:i"),
            {"i": history.id},
        )
    dag_only = api.ok(api.deploy(history.id, dags=BUNDLE_V1), 201)
    assert dag_only["dag_deploy_enabled"] is True
    new = api.ok(rollback(api, history, history.v2), 201)
    assert new["dag_deploy_enabled"] is False
    assert _deployment(api, history)["dag_deploy_mode"] == "image"


# Rule 9 -------------------------------------------------------------------------------------


def test_rule_09_rollback_is_a_new_deploy_and_history_is_kept(api: Api) -> None:
    history = make_history(api)
    v3 = api.ok(api.deploy(history.id, type="IMAGE_ONLY", image="repo/img:3"), 201)
    new = api.ok(rollback(api, history, history.v1, acknowledge=["data_loss"]), 201)
    assert new["seq"] == 4
    assert new["rollback_from_id"] == history.v1["id"]
    assert new["id"] not in {history.v1["id"], history.v2["id"], v3["id"]}
    seqs = [(d["seq"], d["id"]) for d in api.history(history.id)]
    assert seqs == [(4, new["id"]), (3, v3["id"]), (2, history.v2["id"]), (1, history.v1["id"])]
    assert _deployment(api, history)["current_deploy_id"] == new["id"]


# Rule 10 ------------------------------------------------------------------------------------


def test_rule_10_restricted_runtime_warns_and_needs_acknowledgement(api: Api) -> None:
    history = make_history(api, runtime_v1="9.1.0", runtime_v2="9.7.0")
    refused = rollback(api, history, history.v1, acknowledge=["data_loss"])
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "acknowledgement_required"
    codes = {w["code"] for w in error["warnings"]}
    assert codes == {"restricted_runtime"}
    warning = next(w for w in error["warnings"] if w["code"] == "restricted_runtime")
    assert "major bugs and performance issues" in warning["message"]
    assert "plan" in error
    done = rollback(api, history, history.v1, acknowledge=["data_loss", "restricted_runtime"])
    assert done.status_code == 201, done.text


# Rule 11 ------------------------------------------------------------------------------------


def test_rule_11_downgrade_lists_erased_tables_and_needs_acknowledgement(api: Api) -> None:
    history = make_history(api, runtime_v1="12.4.0", runtime_v2="3.1-2")
    plan = api.ok(rollback(api, history, history.v1, dry_run=True))["plan"]
    assert plan["rolled_back"]["runtime_version"] == {
        "from": "3.1-2",
        "to": "12.4.0",
        "direction": "downgrade",
    }
    data_loss = next(w for w in plan["warnings"] if w["code"] == "data_loss")
    tables = {t["name"] for t in data_loss["tables"]}
    assert {"dag_version", "dag_bundle", "backfill"} <= tables
    assert any(w["code"] == "running_tasks" for w in plan["warnings"])
    refused = rollback(api, history, history.v1)
    assert refused.status_code == 409
    assert error_code(refused) == "acknowledgement_required"
    assert [w["code"] for w in refused.json()["error"]["warnings"]] == ["data_loss"]
    assert len(api.history(history.id)) == 2
    assert rollback(api, history, history.v1, acknowledge=["data_loss"]).status_code == 201


# Also: already current, not found, dry run ------------------------------------------------


def test_rolling_back_to_the_live_code_state_is_refused(api: Api) -> None:
    history = make_history(api)
    response = rollback(api, history, history.v2)
    assert response.status_code == 409
    assert error_code(response) == "already_current"


def test_target_of_another_deployment_is_not_found(api: Api) -> None:
    one = make_history(api, name="one")
    two = make_history(api, name="two")
    response = rollback(api, one, two.v1)
    assert response.status_code == 404
    assert error_code(response) == "not_found"


def test_dry_run_changes_nothing(api: Api) -> None:
    history = make_history(api)
    before = _deployment(api, history), api.history(history.id)
    plan = api.ok(rollback(api, history, history.v1, dry_run=True, description=None))["plan"]
    assert plan["rolled_back"]["dag_files"] == {
        "added": ["old_only.py"],
        "removed": ["new_only.py"],
        "changed": ["etl.py"],
    }
    assert plan["kept"]["env_var_keys"] == ["REGION", "PW"]
    assert (_deployment(api, history), api.history(history.id)) == before


def test_rollback_events_record_actor_target_and_outcome(api: Api) -> None:
    history = make_history(api)
    rollback(api, history, history.v1, description="  ")
    new = api.ok(rollback(api, history, history.v1, acknowledge=["data_loss"]), 201)
    events = api.client.app.state.installation.event_log.read()  # type: ignore[attr-defined]
    refused, done = [e for e in events if e["event"]["action"] == "deploy.rollback"]
    assert refused["event"]["outcome"] == "failure"
    assert refused["tarmac"]["error"]["code"] == "description_required"
    assert done["event"]["outcome"] == "success"
    assert done["user"]["name"] == "admin"
    assert done["tarmac"]["deploy"]["id"] == new["id"]
    assert done["tarmac"]["deploy"]["rollback_from_id"] == history.v1["id"]
    assert done["tarmac"]["rollback"]["target"]["id"] == history.v1["id"]
    assert done["tarmac"]["rollback"]["summary"]


def test_idempotency_key_on_rollback(api: Api) -> None:
    history = make_history(api)
    headers = {"Idempotency-Key": "page-3am"}
    url = f"/api/v1/deployments/{history.id}/deploys/{history.v1['id']}/rollback"
    body = {"description": "again", "acknowledge": ["data_loss"]}
    first = api.post(url, json=body, headers=headers)
    second = api.post(url, json=body, headers=headers)
    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert len(api.history(history.id)) == 3
