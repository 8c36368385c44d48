"""The long-poll contract over HTTP: ETags, If-None-Match, wait, and the per-deploy DAGs route."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.bundles import dag_file, make_bundle
from tests.support.server import Api, running_tarmac

V1 = make_bundle({"etl.py": dag_file("etl", marker="v1")})


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[Api]:
    with running_tarmac(data_dir=tmp_path / "data", database_url=database_url) as admin:
        yield admin


def _agent(api: Api, deployment_id: str) -> Api:
    me = api.ok(api.get("/api/v1/users/me"))
    token = api.ok(
        api.post(
            f"/api/v1/users/{me['id']}/tokens", json={"name": "a", "deployment_id": deployment_id}
        ),
        201,
    )["token"]
    return api.as_token(token)


def test_etag_names_the_live_deploy_and_if_none_match_gets_304(api: Api) -> None:
    dep = api.new_deployment("etags")
    agent = _agent(api, dep["id"])
    path = f"/api/v1/deployments/{dep['id']}/dags/current"

    empty = agent.get(path)
    assert empty.status_code == 200 and empty.headers["etag"] == '"none"'
    assert agent.get(path, headers={"If-None-Match": '"none"'}).status_code == 304

    v1 = api.ok(api.deploy(dep["id"], dags=V1), 201)
    changed = agent.get(path, headers={"If-None-Match": '"none"'}, params={"wait": 30})
    assert changed.status_code == 200, "a stale ETag is answered at once, whatever the wait"
    assert changed.headers["etag"] == f'"{v1["id"]}"'
    assert changed.json() == {
        "deploy_id": v1["id"],
        "bundle_sha256": v1["bundle_sha256"],
        "dag_deploy_enabled": True,
    }

    unchanged = agent.get(path, headers={"If-None-Match": f'"{v1["id"]}"'}, params={"wait": 0.2})
    assert unchanged.status_code == 304
    assert unchanged.headers["etag"] == f'"{v1["id"]}"'
    assert unchanged.content == b""


@pytest.mark.parametrize("wait", ["-1", "soon", "nan"])
def test_a_bad_wait_is_invalid_request(api: Api, wait: str) -> None:
    dep = api.new_deployment("waits")
    response = api.get(f"/api/v1/deployments/{dep['id']}/dags/current", params={"wait": wait})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_long_polling_needs_a_token_and_access(api: Api) -> None:
    dep = api.new_deployment("guarded")
    other = api.new_deployment("other")
    path = f"/api/v1/deployments/{dep['id']}/dags/current"
    assert api.as_token(None).get(path, params={"wait": 5}).status_code == 401
    stranger = _agent(api, other["id"])
    assert stranger.get(path, params={"wait": 5}).status_code in (403, 404)


def test_the_dags_of_any_deploy_are_readable_by_its_agent(api: Api) -> None:
    dep = api.new_deployment("versions")
    other = api.new_deployment("elsewhere")
    v1 = api.ok(api.deploy(dep["id"], dags=V1), 201)
    api.ok(api.deploy(dep["id"], dags=make_bundle({"etl.py": dag_file("etl")})), 201)
    foreign = api.ok(api.deploy(other["id"], dags=V1), 201)
    agent = _agent(api, dep["id"])

    old = agent.ok(agent.get(f"/api/v1/deployments/{dep['id']}/dags/deploys/{v1['id']}"))
    assert old == {
        "deploy_id": v1["id"],
        "bundle_sha256": v1["bundle_sha256"],
        "dag_deploy_enabled": True,
    }
    assert agent.get(f"/api/v1/blobs/{v1['bundle_sha256']}").content == V1
    missing = agent.get(f"/api/v1/deployments/{dep['id']}/dags/deploys/{foreign['id']}")
    assert missing.status_code == 404
    assert agent.get(f"/api/v1/deployments/{dep['id']}/deploys/{v1['id']}").status_code == 403


def test_a_woken_long_poll_answers_what_a_plain_read_does(api: Api) -> None:
    dep = api.new_deployment("woken")
    agent = _agent(api, dep["id"])
    path = f"/api/v1/deployments/{dep['id']}/dags/current"
    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(
            agent.get, path, headers={"If-None-Match": '"none"'}, params={"wait": 30}
        )
        _until_sleeping(api, 1)  # asleep in the server: only the deploy's poke can wake it
        v1 = api.ok(api.deploy(dep["id"], dags=V1), 201)
        woken = waiting.result(timeout=30)
    assert woken.status_code == 200
    assert woken.headers["etag"] == f'"{v1["id"]}"'
    assert woken.json() == agent.ok(agent.get(path))


def _until_sleeping(api: Api, count: int) -> None:
    """Wait until ``count`` long polls are asleep in the server's live watcher."""
    watcher = api.client.app.state.live_watcher  # type: ignore[attr-defined]
    deadline = time.monotonic() + 60
    while watcher.sleeping != count:
        assert time.monotonic() < deadline, "the long poll never went to sleep"
        time.sleep(0.01)
