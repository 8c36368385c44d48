"""Slow uploads cannot starve the server: they are bounded, and cut off when they stall.

Against a real server process over loopback. Timeouts here are generous bounds on
"answered at all", never measurements.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.bundles import dag_file, make_bundle
from tests.support.process import ServerProcess
from tests.support.raw_http import open_request, read_response
from tests.support.reliability_stats import record
from tests.support.server import ADMIN_TOKEN

BOUNDARY = "slowboundary"
ANSWERED_WITHIN = 30.0  # seconds; a starved server would not answer at all


def _start(database_url: str, data_dir: Path, **env: str) -> ServerProcess:
    server = ServerProcess(data_dir=data_dir, database_url=database_url, env=env)
    server.start()
    return server


@pytest.fixture
def patient_server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server that lets slow bodies trickle for minutes, so they stay in flight."""
    server = _start(
        database_url,
        tmp_path / "data",
        TARMAC_BODY_GRACE_SECONDS="600",
        TARMAC_BODY_IDLE_TIMEOUT_SECONDS="600",
        TARMAC_MAX_UPLOADS_PER_USER="3",
        TARMAC_MAX_UPLOADS_IN_FLIGHT="8",
    )
    try:
        yield server
    finally:
        server.stop()


def _slow_upload(server: ServerProcess, deployment_id: str, token: str) -> socket.socket:
    """A deploy whose body starts and then stalls, as a very slow link would send it."""
    sock = open_request(
        server.url,
        "POST",
        f"/api/v1/deployments/{deployment_id}/deploys",
        {
            "Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(10 * 1024 * 1024),
        },
    )
    sock.sendall(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="type"\r\n\r\nDAG_ONLY\r\n'.encode()
    )
    return sock


def _deploy(client: httpx.Client, deployment_id: str, marker: str) -> httpx.Response:
    bundle = make_bundle({"a.py": dag_file("a", marker=marker)})
    return client.post(
        f"/api/v1/deployments/{deployment_id}/deploys",
        data={"type": "DAG_ONLY"},
        files={"dags": ("d.tgz", bundle, "application/gzip")},
        timeout=ANSWERED_WITHIN,
    )


def _user(admin: httpx.Client, name: str) -> str:
    user = admin.post("/api/v1/users", json={"username": name, "system_role": "SYSTEM_ADMIN"})
    token = admin.post(f"/api/v1/users/{user.json()['id']}/tokens", json={"name": "t"})
    return str(token.json()["token"])


def _new_deployment(admin: httpx.Client, name: str) -> str:
    body = {"name": name, "runtime_version": "12.4.0", "dag_deploy_mode": "dag_deploy"}
    return str(admin.post("/api/v1/deployments", json=body).json()["id"])


def test_many_slow_uploads_leave_health_reads_and_other_deploys_answering(
    patient_server: ServerProcess,
) -> None:
    server = patient_server
    with server.client() as admin:
        slow_token, other_token = _user(admin, "slow-ci"), _user(admin, "other")
        slow_dep, other_dep = _new_deployment(admin, "slow"), _new_deployment(admin, "other")
    in_flight = [_slow_upload(server, slow_dep, slow_token) for _ in range(3)]
    status, _body = _refused_once_slots_are_taken(server, slow_dep, slow_token)
    assert status == 429
    # Many more from the same user: each is refused at once, not queued.
    refused = [read_response(_slow_upload(server, slow_dep, slow_token)) for _ in range(20)]
    assert {status for status, _ in refused} == {429}
    assert {body["error"]["code"] for _, body in refused} == {"too_many_uploads"}
    assert {body["error"]["scope"] for _, body in refused} == {"user"}
    with (
        httpx.Client(base_url=server.url, timeout=ANSWERED_WITHIN) as anonymous,
        server.client(other_token, timeout=ANSWERED_WITHIN) as other,
        server.client(ADMIN_TOKEN, timeout=ANSWERED_WITHIN) as admin,
    ):
        assert anonymous.get("/healthz").json() == {"status": "ok"}
        assert anonymous.get("/ui/login").status_code == 200
        assert admin.get(f"/api/v1/deployments/{slow_dep}/deploys").json()["items"] == []
        deployed = _deploy(other, other_dep, "other")
        assert deployed.status_code == 201, deployed.text
        history = other.get(f"/api/v1/deployments/{other_dep}/deploys").json()["items"]
        assert [d["id"] for d in history] == [deployed.json()["id"]]
    for sock in in_flight:
        sock.close()
    # Closed uploads give their slots back: the slow user may deploy again.
    with server.client(slow_token, timeout=ANSWERED_WITHIN) as slow:
        assert _eventually_deploys(slow, slow_dep).status_code == 201
    record("slow_uploads", in_flight=len(in_flight), refused=len(refused))


def _eventually_deploys(client: httpx.Client, deployment_id: str) -> httpx.Response:
    """Deploy once the server has noticed the closed connections (a real condition)."""
    deadline = time.monotonic() + ANSWERED_WITHIN
    while True:
        response = _deploy(client, deployment_id, "later")
        if response.status_code != 429 or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_the_server_wide_bound_refuses_with_its_own_scope(
    database_url: str, tmp_path: Path
) -> None:
    server = _start(
        database_url,
        tmp_path / "data",
        TARMAC_BODY_GRACE_SECONDS="600",
        TARMAC_BODY_IDLE_TIMEOUT_SECONDS="600",
        TARMAC_MAX_UPLOADS_PER_USER="2",
        TARMAC_MAX_UPLOADS_IN_FLIGHT="2",
    )
    try:
        with server.client() as admin:
            first, second = _user(admin, "first"), _user(admin, "second")
            dep = _new_deployment(admin, "d")
        in_flight = [_slow_upload(server, dep, first) for _ in range(2)]
        status, body = _refused_once_slots_are_taken(server, dep, second)
        assert (status, body["error"]["code"], body["error"]["scope"]) == (
            429,
            "too_many_uploads",
            "server",
        )
        for sock in in_flight:
            sock.close()
    finally:
        server.stop()


def _refused_once_slots_are_taken(
    server: ServerProcess, deployment_id: str, token: str
) -> tuple[int, dict]:  # type: ignore[type-arg]
    """The slow uploads sent their headers; wait until the server has counted them."""
    deadline = time.monotonic() + ANSWERED_WITHIN
    while True:
        with server.client(token, timeout=ANSWERED_WITHIN) as client:
            response = client.post(
                f"/api/v1/deployments/{deployment_id}/deploys", data={"type": "NOT_A_TYPE"}
            )
        if response.status_code == 429 or time.monotonic() > deadline:
            return response.status_code, response.json()
        time.sleep(0.2)


@pytest.mark.parametrize("path_kind", ["upload", "json"])
def test_a_stalled_body_is_cut_off_and_changes_nothing(
    database_url: str, tmp_path: Path, path_kind: str
) -> None:
    server = _start(
        database_url,
        tmp_path / "data",
        TARMAC_BODY_GRACE_SECONDS="1",
        TARMAC_BODY_IDLE_TIMEOUT_SECONDS="2",
        TARMAC_MAX_UPLOADS_PER_USER="1",
    )
    try:
        with server.client() as admin:
            dep = _new_deployment(admin, "d")
        if path_kind == "upload":
            sock = _slow_upload(server, dep, ADMIN_TOKEN)
        else:
            sock = open_request(
                server.url,
                "PATCH",
                f"/api/v1/deployments/{dep}",
                {
                    "Authorization": f"Bearer {ADMIN_TOKEN}",
                    "Content-Type": "application/json",
                    "Content-Length": "1000",
                },
            )
            sock.sendall(b'{"description": "half of a bo')
        status, body = read_response(sock)  # the server answers by itself; we send nothing more
        assert status == 408
        assert body["error"]["code"] == "request_too_slow"
        with server.client(timeout=ANSWERED_WITHIN) as admin:
            assert admin.get(f"/api/v1/deployments/{dep}/deploys").json()["items"] == []
            assert admin.get(f"/api/v1/deployments/{dep}").json()["description"] in ("", None)
            # The cut-off upload gave its one slot back.
            assert _deploy(admin, dep, "after").status_code == 201
        staging = server.data_dir / "blobs" / "staging"
        assert not staging.exists() or not any(staging.iterdir())
        record("stalled_body", path=path_kind)
    finally:
        server.stop()
