"""Signed webhooks delivered from the outbox to a real local HTTP receiver."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tarmac.webhooks.payloads import verify_signature
from tests.integration.rollback_setup import make_history
from tests.support.bundles import make_bundle
from tests.support.server import Api, running_tarmac
from tests.support.webhook_receiver import WebhookReceiver, free_port, wait_for

SECRET = "a-webhook-secret-of-some-length"
FAST_RETRIES: dict[str, Any] = {
    "webhook_allow_loopback": True,
    "webhook_retry_base_seconds": 0.05,
    "webhook_retry_cap_seconds": 0.2,
    "webhook_poll_seconds": 0.05,
}


def subscribe(api: Api, deployment_id: str, url: str, events: list[str], **extra: Any) -> Any:
    body = {"url": url, "events": events, "secret": SECRET, **extra}
    return api.ok(api.post(f"/api/v1/deployments/{deployment_id}/webhooks", json=body), 201)


def deliveries(api: Api, deployment_id: str, webhook_id: str) -> list[dict[str, Any]]:
    path = f"/api/v1/deployments/{deployment_id}/webhooks/{webhook_id}/deliveries"
    return list(api.ok(api.get(path))["items"])


def rollback(api: Api, deployment_id: str, target_id: str) -> Any:
    return api.ok(
        api.post(
            f"/api/v1/deployments/{deployment_id}/deploys/{target_id}/rollback",
            json={"description": "v2 broke the nightly load"},
        ),
        201,
    )


def test_a_rollback_produces_one_signed_delivery_that_verifies(
    database_url: str, tmp_path: Path
) -> None:
    with (
        WebhookReceiver() as receiver,
        running_tarmac(
            data_dir=tmp_path / "data", database_url=database_url, **FAST_RETRIES
        ) as api,
    ):
        history = make_history(api)
        hook = subscribe(api, history.id, receiver.url, ["deploy.rollback"])
        assert "secret" not in hook
        new = rollback(api, history.id, history.v1["id"])
        [item] = wait_for(
            lambda: [
                d for d in deliveries(api, history.id, hook["id"]) if d["status"] == "delivered"
            ],
            what="the delivery to be recorded",
        )
        assert len(receiver.received) == 1
        got = receiver.received[0]
        assert verify_signature(SECRET, got.body, got.headers["X-Tarmac-Signature"])
        assert got.headers["X-Tarmac-Signature"].startswith("sha256=")
        assert not verify_signature(
            "another-secret-entirely", got.body, got.headers["X-Tarmac-Signature"]
        )
        payload = json.loads(got.body)
        assert payload["event"] == "deploy.rollback"
        assert payload["id"] == got.headers["X-Tarmac-Event-Id"] == item["event_id"]
        assert payload["deploy"]["id"] == new["id"]
        assert payload["deploy"]["rollback_from_id"] == history.v1["id"]
        assert (item["attempts"], item["response_status"], item["last_error"]) == (1, 204, None)


def test_a_receiver_down_then_up_gets_the_delivery_once_after_a_restart(
    database_url: str, tmp_path: Path
) -> None:
    receiver = WebhookReceiver(port=free_port())  # not listening yet
    data_dir = tmp_path / "data"
    with running_tarmac(data_dir=data_dir, database_url=database_url, **FAST_RETRIES) as api:
        history = make_history(api)
        hook = subscribe(api, history.id, receiver.url, ["deploy.rollback"])
        rollback(api, history.id, history.v1["id"])
        [failing] = wait_for(
            lambda: [d for d in deliveries(api, history.id, hook["id"]) if d["attempts"] >= 2],
            what="two failed attempts",
        )
        assert failing["status"] == "pending"
        assert "ConnectError" in failing["last_error"]
    with (
        receiver,
        running_tarmac(data_dir=data_dir, database_url=database_url, **FAST_RETRIES) as api,
    ):
        [done] = wait_for(
            lambda: [
                d for d in deliveries(api, history.id, hook["id"]) if d["status"] == "delivered"
            ],
            what="the delivery after the restart",
        )
        event_ids = [r.headers["X-Tarmac-Event-Id"] for r in receiver.received]
        assert event_ids == [done["event_id"]]
        assert done["attempts"] > failing["attempts"]
        assert done["last_error"] is None


def test_holds_and_bad_marks_are_delivered_too(database_url: str, tmp_path: Path) -> None:
    events = ["deployment.held", "deployment.hold_cleared", "deploy.marked_bad"]
    events.append("deploy.unmarked_bad")
    with (
        WebhookReceiver() as receiver,
        running_tarmac(
            data_dir=tmp_path / "data", database_url=database_url, **FAST_RETRIES
        ) as api,
    ):
        history = make_history(api)
        hook = subscribe(api, history.id, receiver.url, events)
        new = rollback(api, history.id, history.v1["id"])  # holds the Deployment
        bad = f"/api/v1/deployments/{history.id}/deploys/{history.v2['id']}/mark-bad"
        api.ok(api.post(bad, json={"reason": "v2 drops rows"}))
        api.ok(api.request("DELETE", bad, json={"reason": "it was the source"}))
        hold = f"/api/v1/deployments/{history.id}/hold"
        api.ok(api.request("DELETE", hold, json={"reason": "fix merged"}))
        wait_for(
            lambda: [
                d for d in deliveries(api, history.id, hook["id"]) if d["status"] == "delivered"
            ][3:],
            what="four deliveries",
        )
        got = {r.headers["X-Tarmac-Event"]: json.loads(r.body) for r in receiver.received}
        assert sorted(got) == sorted(events)
        assert got["deployment.held"]["hold"]["deploy_id"] == new["id"]
        assert got["deploy.marked_bad"]["deploy"]["id"] == history.v2["id"]
        assert got["deploy.marked_bad"]["message"] == "v2 drops rows"
        assert got["deploy.unmarked_bad"]["message"] == "it was the source"
        cleared = got["deployment.hold_cleared"]
        assert (cleared["hold"]["deploy_id"], cleared["message"]) == (new["id"], "fix merged")
        assert len(receiver.received) == 4  # the rollback itself was not subscribed to


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[fe80::1]/hook",
        "http://127.0.0.1:9/hook",
        "http://0.0.0.0/hook",
        "file:///etc/passwd",
        "http://user:pw@example.com/hook",
    ],
)
def test_ssrf_urls_are_refused_with_a_clear_code(api: Api, url: str) -> None:
    dep = api.new_deployment()
    response = api.post(
        f"/api/v1/deployments/{dep['id']}/webhooks",
        json={"url": url, "events": ["deploy.created"], "secret": SECRET},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "webhook_url_refused"
    assert api.ok(api.get(f"/api/v1/deployments/{dep['id']}/webhooks"))["items"] == []


def test_the_server_itself_is_refused_even_when_loopback_is_allowed(
    database_url: str, tmp_path: Path
) -> None:
    with running_tarmac(data_dir=tmp_path / "d", database_url=database_url, **FAST_RETRIES) as api:
        dep = api.new_deployment()
        response = api.post(
            f"/api/v1/deployments/{dep['id']}/webhooks",
            json={
                "url": "http://127.0.0.1:8080/api/v1/users",
                "events": ["deploy.created"],
                "secret": SECRET,
            },
            headers={"Host": "127.0.0.1:8080"},
        )
        assert response.status_code == 400, response.text
        assert "itself" in response.json()["error"]["message"]


def test_webhook_input_and_permissions(api: Api) -> None:
    dep = api.new_deployment()
    path = f"/api/v1/deployments/{dep['id']}/webhooks"
    good = {"url": "https://hooks.example.com/x", "events": ["deploy.created"], "secret": SECRET}
    for bad in ({"events": ["deploy.exploded"]}, {"secret": "short"}, {"events": []}):
        response = api.post(path, json={**good, **bad})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_request"
    _, viewer = api.new_user("viewer")
    api.ok(
        api.put(f"/api/v1/deployments/{dep['id']}/members/{_}", json={"role": "DEPLOYMENT_VIEWER"})
    )
    assert viewer.post(path, json=good).status_code == 403
    _, editor = api.new_user("sys-editor", "SYSTEM_EDITOR")
    assert editor.post("/api/v1/webhooks", json=good).status_code == 403
    assert api.post("/api/v1/webhooks", json=good).status_code == 201


def test_slack_payload_and_installation_wide_webhook(database_url: str, tmp_path: Path) -> None:
    with (
        WebhookReceiver() as receiver,
        running_tarmac(
            data_dir=tmp_path / "data", database_url=database_url, **FAST_RETRIES
        ) as api,
    ):
        hook = api.ok(
            api.post(
                "/api/v1/webhooks",
                json={
                    "url": receiver.url,
                    "events": ["deploy.created"],
                    "secret": SECRET,
                    "payload_format": "slack",
                },
            ),
            201,
        )
        history = make_history(api)
        wait_for(lambda: len(receiver.received) >= 2, what="two deploy.created deliveries")
        texts = [json.loads(r.body)["text"] for r in receiver.received]
        assert all(t.startswith("*deploy.created*: admin") for t in texts)
        assert {r.headers["X-Tarmac-Event"] for r in receiver.received} == {"deploy.created"}
        items = api.ok(api.get(f"/api/v1/webhooks/{hook['id']}/deliveries"))["items"]
        assert len(items) == 2 and history.id


def test_delete_a_webhook_and_its_log_goes_with_it(api: Api) -> None:
    dep = api.new_deployment()
    hook = subscribe(api, dep["id"], "https://hooks.example.com/x", ["deploy.created"])
    path = f"/api/v1/deployments/{dep['id']}/webhooks/{hook['id']}"
    other = api.new_deployment("other")
    assert (
        api.request(
            "DELETE", f"/api/v1/deployments/{other['id']}/webhooks/{hook['id']}"
        ).status_code
        == 404
    )
    assert api.request("DELETE", path).status_code == 204
    assert api.ok(api.get(f"/api/v1/deployments/{dep['id']}/webhooks"))["items"] == []
    assert api.get(f"{path}/deliveries").status_code == 404
    assert api.request("DELETE", path).status_code == 404


def test_a_secret_that_no_longer_decrypts_is_logged_and_gives_up(
    database_url: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    url = f"http://127.0.0.1:{free_port()}/hook"  # nobody listens: stays pending
    with running_tarmac(data_dir=data_dir, database_url=database_url, **FAST_RETRIES) as api:
        dep = api.new_deployment()
        hook = subscribe(api, dep["id"], url, ["deploy.created"])
        api.ok(api.deploy(dep["id"], dags=make_bundle({"a.py": "# a\n"})), 201)
        wait_for(lambda: deliveries(api, dep["id"], hook["id"]), what="a pending delivery")
    settings = {**FAST_RETRIES, "secret_key": "another-key", "webhook_max_attempts": 3}
    with running_tarmac(data_dir=data_dir, database_url=database_url, **settings) as api:
        [gave_up] = wait_for(
            lambda: [d for d in deliveries(api, dep["id"], hook["id"]) if d["status"] == "failed"],
            what="the delivery to fail for good",
        )
        assert "TARMAC_SECRET_KEY" in gave_up["last_error"]
        assert gave_up["attempts"] >= 3
