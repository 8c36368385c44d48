"""An Idempotency-Key replays only the request it was first used for; anything else is refused.

A CI job that reuses a key for new code must not be told its deploy succeeded while the
old code stays live, and a rollback key must not return an unrelated deploy.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.rollback_setup import BUNDLE_V1, error_code, make_history
from tests.integration.test_deploys_api import live_files
from tests.support.bundles import dag_file, make_bundle
from tests.support.server import Api

OLD_CODE = make_bundle({"a.py": dag_file("a", marker="old")})
NEW_CODE = make_bundle({"a.py": dag_file("a", marker="new")})


def _refused_as_reused(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    assert error_code(response) == "idempotency_key_reused"


def _rollback(
    api: Api, deployment_id: str, target_id: str, key: str, **body: Any
) -> httpx.Response:
    url = f"/api/v1/deployments/{deployment_id}/deploys/{target_id}/rollback"
    payload = {"description": "deploy 2 broke the load", **body}
    return api.post(url, json=payload, headers={"Idempotency-Key": key})


def test_a_deploy_key_reused_for_new_code_is_refused_and_the_old_code_stays(api: Api) -> None:
    dep = api.new_deployment()
    first = api.ok(api.deploy(dep["id"], dags=OLD_CODE, idempotency_key="ci-42"), 201)
    reused = api.deploy(dep["id"], dags=NEW_CODE, idempotency_key="ci-42")
    _refused_as_reused(reused)
    assert [d["id"] for d in api.history(dep["id"])] == [first["id"]]
    assert b"old" in live_files(api, dep["release_name"])["a.py"]


def test_a_deploy_key_reused_with_other_fields_is_refused(api: Api) -> None:
    dep = api.new_deployment()
    api.ok(api.deploy(dep["id"], type="IMAGE_ONLY", image="repo/img:1", idempotency_key="k"), 201)
    for changed in (
        {"image": "repo/img:2"},
        {"image": "repo/img:1", "description": "another"},
        {"image": "repo/img:1", "runtime_version": "12.4.0"},
    ):
        _refused_as_reused(api.deploy(dep["id"], type="IMAGE_ONLY", idempotency_key="k", **changed))
    assert len(api.history(dep["id"])) == 1


def test_the_same_deploy_request_is_replayed(api: Api) -> None:
    dep = api.new_deployment()
    first = api.ok(api.deploy(dep["id"], dags=OLD_CODE, idempotency_key="ci-7"), 201)
    again = api.ok(api.deploy(dep["id"], dags=OLD_CODE, idempotency_key="ci-7"), 200)
    assert again["id"] == first["id"]
    assert len(api.history(dep["id"])) == 1


def test_a_deploy_key_is_bound_to_its_deployment(api: Api) -> None:
    sales = api.new_deployment("sales")
    finance = api.new_deployment("finance")
    api.ok(api.deploy(sales["id"], dags=OLD_CODE, idempotency_key="ci-9"), 201)
    _refused_as_reused(api.deploy(finance["id"], dags=OLD_CODE, idempotency_key="ci-9"))
    assert api.history(finance["id"]) == []


def test_keys_of_different_users_do_not_collide(api: Api) -> None:
    dep = api.new_deployment()
    _, other = api.new_user("ci-bot", "SYSTEM_ADMIN")
    mine = api.ok(api.deploy(dep["id"], dags=OLD_CODE, idempotency_key="shared"), 201)
    theirs = api.ok(other.deploy(dep["id"], dags=NEW_CODE, idempotency_key="shared"), 201)
    assert mine["id"] != theirs["id"]


def test_a_rollback_key_reused_for_another_target_or_body_is_refused(api: Api) -> None:
    history = make_history(api)
    first = api.ok(_rollback(api, history.id, history.v1["id"], "page-3am"), 201)
    _refused_as_reused(_rollback(api, history.id, history.v2["id"], "page-3am"))
    _refused_as_reused(
        _rollback(api, history.id, history.v1["id"], "page-3am", description="other reason")
    )
    replay = api.ok(_rollback(api, history.id, history.v1["id"], "page-3am"), 200)
    assert replay["id"] == first["id"]
    assert len(api.history(history.id)) == 3


def test_a_deploy_key_is_not_replayed_by_a_rollback_nor_the_other_way(api: Api) -> None:
    history = make_history(api)
    api.ok(api.deploy(history.id, dags=BUNDLE_V1, idempotency_key="deploy-key"), 201)
    _refused_as_reused(_rollback(api, history.id, history.v1["id"], "deploy-key"))
    api.ok(_rollback(api, history.id, history.v1["id"], "rollback-key"), 201)
    _refused_as_reused(api.deploy(history.id, dags=BUNDLE_V1, idempotency_key="rollback-key"))
    assert len(api.history(history.id)) == 4


def test_a_dry_run_neither_uses_nor_checks_the_key(api: Api) -> None:
    history = make_history(api)
    api.ok(_rollback(api, history.id, history.v1["id"], "k", dry_run=True))
    done = api.ok(_rollback(api, history.id, history.v1["id"], "k"), 201)
    assert done["rollback_from_id"] == history.v1["id"]
