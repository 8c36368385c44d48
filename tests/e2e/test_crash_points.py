"""kill -9 at the failpoints after the commit, inside cleanup and inside event export:
after a restart there is one consistent state, nothing lost and nothing duplicated."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.live_state import assert_live_matches_records
from tests.support.bundles import dag_file, make_bundle
from tests.support.fake_bulk_server import FakeElasticsearch
from tests.support.process import ServerProcess
from tests.support.reliability_stats import record

BUNDLES = [make_bundle({f"v{i}.py": dag_file(f"v{i}")}) for i in range(1, 5)]
BY_SHA = {hashlib.sha256(b).hexdigest(): b for b in BUNDLES}
PATIENCE = 60.0  # seconds; a generous bound on "it happened at all"


def _deploy(client: httpx.Client, dep_id: str, bundle: bytes, **headers: str) -> httpx.Response:
    return client.post(
        f"/api/v1/deployments/{dep_id}/deploys",
        data={"type": "DAG_ONLY"},
        files={"dags": ("d.tgz", bundle, "application/gzip")},
        headers=headers,
    )


def _deployment(client: httpx.Client, deploys: int) -> dict[str, Any]:
    body = {"name": "crash", "runtime_version": "12.4.0", "dag_deploy_mode": "dag_deploy"}
    dep: dict[str, Any] = client.post("/api/v1/deployments", json=body).json()
    for bundle in BUNDLES[:deploys]:
        assert _deploy(client, dep["id"], bundle).status_code == 201
    assert (
        client.patch(
            f"/api/v1/deployments/{dep['id']}", json={"rollback_enabled": True}
        ).status_code
        == 200
    )
    return dep


def _history(client: httpx.Client, dep_id: str) -> list[dict[str, Any]]:
    return client.get(f"/api/v1/deployments/{dep_id}/deploys", params={"limit": 100}).json()[
        "items"
    ]  # type: ignore[no-any-return]


def _events(server: ServerProcess) -> list[dict[str, Any]]:
    path = server.data_dir / "events" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _crash(server: ServerProcess, point: str, request: Any) -> None:
    """Restart with the failpoint armed, send the request, and see the server die of it."""
    server.stop()
    server.start(failpoints=point)
    with pytest.raises(httpx.TransportError):
        request()
    assert server.wait_exit() != 0
    server.start()


@pytest.mark.parametrize("kind", ["deploy", "rollback"])
def test_killed_after_the_commit_the_new_deploy_is_live_once_with_its_one_event(
    server: ServerProcess, kind: str
) -> None:
    with server.client() as client:
        dep = _deployment(client, deploys=2)
        first = _history(client, dep["id"])[-1]
    key = {"Idempotency-Key": f"crash-{kind}"}
    path = f"/api/v1/deployments/{dep['id']}/deploys/{first['id']}/rollback"

    def send(client: httpx.Client) -> httpx.Response:
        if kind == "deploy":
            return _deploy(client, dep["id"], BUNDLES[2], **key)
        return client.post(path, json={"description": "v2 broke"}, headers=key)

    _crash(server, "after_commit", lambda: send(server.client()))
    with server.client() as client:
        current = assert_live_matches_records(
            client, data_dir=server.data_dir, deployment=dep, bundles_by_sha=BY_SHA
        )
        history = _history(client, dep["id"])
        assert len(history) == 3 and history[0]["id"] == current["id"]  # committed: it stays
        expected = BUNDLES[2] if kind == "deploy" else BUNDLES[0]
        assert current["bundle_sha256"] == hashlib.sha256(expected).hexdigest()
        # Killed before agents were woken: after the restart they see the switch all the same.
        seen = client.get(f"/api/v1/deployments/{dep['id']}/dags/current")
        assert seen.status_code == 200, seen.text
        assert (seen.json()["deploy_id"], seen.json()["bundle_sha256"]) == (
            current["id"],
            current["bundle_sha256"],
        )
        retried = send(client)  # the CI job retries with its key: a replay, not a second deploy
        assert retried.status_code == 200 and retried.json()["id"] == current["id"]
        assert len(_history(client, dep["id"])) == 3
    mentions = [
        e
        for e in _events(server)
        if e.get("tarmac", {}).get("deploy", {}).get("id") == current["id"]
    ]
    assert len(mentions) == 1  # the outbox wrote its event on restart, once
    record("fault", point="after_commit", test=kind)


def _age_files(data_dir: Path) -> None:
    then = time.time() - 7 * 86_400
    for folder in (data_dir / "blobs", data_dir / "bundles"):
        for path in folder.rglob("*"):
            os.utime(path, (then, then), follow_symlinks=False)


@pytest.mark.parametrize("point", ["cleanup_after_batch", "cleanup_files_aside"])
def test_killed_during_cleanup_the_rest_is_intact_and_cleanup_finishes(
    server: ServerProcess, point: str
) -> None:
    with server.client() as client:
        dep = _deployment(client, deploys=4)
        live = _history(client, dep["id"])[0]
    _age_files(server.data_dir)
    cleanup = {"older_than_days": 0, "grace_seconds": 0}

    def run() -> httpx.Response:
        return server.client().post("/api/v1/admin/cleanup-deploy-revisions", json=cleanup)

    _crash(server, point, run)
    with server.client() as client:
        assert_live_matches_records(
            client, data_dir=server.data_dir, deployment=dep, bundles_by_sha=BY_SHA
        )
        for deploy in _history(client, dep["id"]):  # every remaining deploy can still be read
            assert client.get(f"/api/v1/blobs/{deploy['bundle_sha256']}").status_code == 200
        _age_files(server.data_dir)
        done = client.post("/api/v1/admin/cleanup-deploy-revisions", json=cleanup)
        assert done.status_code == 200, done.text
        assert [d["id"] for d in _history(client, dep["id"])] == [live["id"]]
        again = _deploy(client, dep["id"], BUNDLES[0])  # bytes cleanup took are stored anew
        assert again.status_code == 201, again.text
        assert_live_matches_records(
            client, data_dir=server.data_dir, deployment=dep, bundles_by_sha=BY_SHA
        )
    record("fault", point=point, test="cleanup")


def test_killed_during_event_export_every_event_arrives_exactly_once(
    database_url: str, tmp_path: Path
) -> None:
    with FakeElasticsearch() as fake:
        server = ServerProcess(
            data_dir=tmp_path / "data",
            database_url=database_url,
            env={"TARMAC_ELASTICSEARCH_URL": fake.url},
        )
        server.start(failpoints="export_after_send")
        try:
            with server.client() as client:  # the first event's export kills the server
                client.post(
                    "/api/v1/deployments",
                    json={"name": "e", "runtime_version": "12.4.0", "dag_deploy_mode": "image"},
                )
            assert server.wait_exit(timeout=PATIENCE) != 0
            assert fake.stored  # the sink had them when the process died
            server.start()
            with server.client() as client:
                _deployment(client, deploys=2)
            wanted = {str(e["event"]["id"]) for e in _events(server)}
            deadline = time.monotonic() + PATIENCE
            while {doc_id for _, doc_id in fake.stored} != wanted:
                assert time.monotonic() < deadline, "the outbox never drained"
                time.sleep(0.1)
            assert set(fake.created.values()) == {1}  # resent after the crash, stored once
            assert fake.conflicts >= 1  # the resend really happened
            record("fault", point="export_after_send", test="event export")
        finally:
            server.stop()
