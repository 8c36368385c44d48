"""A webhook survives its receiver being down and the server being killed: delivered once.

Real server processes (kill -9 in between) and a real local HTTP receiver.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tarmac.webhooks.payloads import verify_signature
from tests.support.bundles import dag_file, make_bundle
from tests.support.process import ServerProcess
from tests.support.webhook_receiver import WebhookReceiver, free_port, wait_for

SECRET = "a-webhook-secret-of-some-length"
ENV = {
    "TARMAC_WEBHOOK_ALLOW_LOOPBACK": "true",
    "TARMAC_WEBHOOK_RETRY_BASE_SECONDS": "0.05",
    "TARMAC_WEBHOOK_RETRY_CAP_SECONDS": "0.2",
    "TARMAC_WEBHOOK_POLL_SECONDS": "0.05",
}


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def deliveries(client: httpx.Client, dep_id: str, hook_id: str) -> list[dict[str, Any]]:
    return list(
        ok(client.get(f"/api/v1/deployments/{dep_id}/webhooks/{hook_id}/deliveries"))["items"]
    )


def test_receiver_down_then_up_gets_the_rollback_once_after_kill_9(tmp_path: Path) -> None:
    server = ServerProcess(
        data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path}/t.db", env=ENV
    )
    receiver = WebhookReceiver(port=free_port())  # down: nothing listens yet
    server.start()
    try:
        with server.client() as client:
            dep = ok(
                client.post(
                    "/api/v1/deployments",
                    json={
                        "name": "sales",
                        "runtime_version": "12.4.0",
                        "dag_deploy_mode": "dag_deploy",
                    },
                ),
                201,
            )
            ok(client.patch(f"/api/v1/deployments/{dep['id']}", json={"rollback_enabled": True}))
            first = None
            for marker in ("v1", "v2"):
                made = ok(
                    client.post(
                        f"/api/v1/deployments/{dep['id']}/deploys",
                        data={"type": "DAG_ONLY"},
                        files={
                            "dags": (
                                "d.tgz",
                                make_bundle({"etl.py": dag_file("etl", marker=marker)}),
                                "x",
                            )
                        },
                    ),
                    201,
                )
                first = first or made
            hook = ok(
                client.post(
                    f"/api/v1/deployments/{dep['id']}/webhooks",
                    json={"url": receiver.url, "events": ["deploy.rollback"], "secret": SECRET},
                ),
                201,
            )
            assert first is not None
            ok(
                client.post(
                    f"/api/v1/deployments/{dep['id']}/deploys/{first['id']}/rollback",
                    json={"description": "v2 broke it"},
                ),
                201,
            )
            wait_for(
                lambda: any(d["attempts"] >= 2 for d in deliveries(client, dep["id"], hook["id"])),
                what="failed attempts while the receiver is down",
            )
        server.kill()
        server.wait_exit()
        receiver.start()
        server.start()
        with server.client() as client:
            [done] = wait_for(
                lambda: [
                    d
                    for d in deliveries(client, dep["id"], hook["id"])
                    if d["status"] == "delivered"
                ],
                what="the delivery after the restart",
            )
        assert [r.headers["X-Tarmac-Event-Id"] for r in receiver.received] == [done["event_id"]]
        got = receiver.received[0]
        assert verify_signature(SECRET, got.body, got.headers["X-Tarmac-Signature"])
    finally:
        server.stop()
        receiver.stop()


def test_two_replicas_deliver_each_event_once(database_url: str, tmp_path: Path) -> None:
    replicas = [
        ServerProcess(data_dir=tmp_path / "data", database_url=database_url, env=ENV)
        for _ in range(2)
    ]
    for replica in replicas:
        replica.start()
    try:
        with WebhookReceiver() as receiver:
            with replicas[0].client() as client:
                dep = ok(
                    client.post(
                        "/api/v1/deployments",
                        json={
                            "name": "shared",
                            "runtime_version": "12.4.0",
                            "dag_deploy_mode": "dag_deploy",
                        },
                    ),
                    201,
                )
                ok(
                    client.post(
                        f"/api/v1/deployments/{dep['id']}/webhooks",
                        json={"url": receiver.url, "events": ["deploy.created"], "secret": SECRET},
                    ),
                    201,
                )
            for n in range(8):
                with replicas[n % 2].client() as client:
                    ok(
                        client.post(
                            f"/api/v1/deployments/{dep['id']}/deploys",
                            data={"type": "DAG_ONLY"},
                            files={"dags": ("d.tgz", make_bundle({f"d{n}.py": f"# {n}\n"}), "x")},
                        ),
                        201,
                    )
            with replicas[1].client() as client:
                path = f"/api/v1/deployments/{dep['id']}/webhooks"
                hook_id = ok(client.get(path))["items"][0]["id"]
                wait_for(
                    lambda: (
                        [d["status"] for d in deliveries(client, dep["id"], hook_id)]
                        == ["delivered"] * 8
                    ),
                    what="eight deliveries",
                )
            ids = [r.headers["X-Tarmac-Event-Id"] for r in receiver.received]
            assert len(ids) == len(set(ids)) == 8
    finally:
        for replica in replicas:
            replica.stop()
