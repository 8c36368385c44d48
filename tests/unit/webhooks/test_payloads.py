"""Event names, bodies and signatures of webhook deliveries."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from tarmac.events.ecs import ecs_event
from tarmac.webhooks.payloads import (
    delivery_headers,
    signature,
    verify_signature,
    webhook_body,
    webhook_event_name,
)


@pytest.mark.parametrize(
    ("action", "outcome", "with_deploy", "name"),
    [
        ("deploy.create", "success", True, "deploy.created"),
        ("deploy.create", "failure", True, "deploy.failed"),
        ("deploy.rollback", "success", True, "deploy.rollback"),
        ("deploy.rollback", "failure", True, "deploy.failed"),
        ("deploy.rollback", "failure", False, "rollback.refused"),
        ("deployment.update", "success", False, "deployment.updated"),
        ("deployment.hold.set", "success", False, "deployment.held"),
        ("deployment.hold.clear", "success", False, "deployment.hold_cleared"),
        ("deploy.mark_bad", "success", True, "deploy.marked_bad"),
        ("deploy.unmark_bad", "success", True, "deploy.unmarked_bad"),
        ("deploy.mark_bad", "failure", True, None),
        ("deploy.pin", "success", True, None),
    ],
)
def test_event_names(action: str, outcome: str, with_deploy: bool, name: str | None) -> None:
    document = ecs_event(
        action=action,
        outcome=outcome,
        actor="ci",
        deployment_id="d1",
        deploy={"id": "x", "seq": 3} if with_deploy else None,
    )
    assert webhook_event_name(document) == name


def test_signature_is_hmac_sha256_of_the_exact_body() -> None:
    body = b'{"a":1}'
    expected = hmac.new(b"k" * 16, body, hashlib.sha256).hexdigest()
    assert signature("k" * 16, body) == f"sha256={expected}"
    assert verify_signature("k" * 16, body, f"sha256={expected}")
    assert not verify_signature("k" * 16, body + b" ", f"sha256={expected}")
    headers = delivery_headers(
        secret="k" * 16, body=body, name="deploy.created", event_id=7, delivery_id="d"
    )
    assert headers["X-Tarmac-Event-Id"] == "7"
    assert headers["X-Tarmac-Signature"] == f"sha256={expected}"


def test_json_and_slack_bodies() -> None:
    document = ecs_event(
        action="deploy.rollback",
        outcome="success",
        actor="ada",
        deployment_id="d1",
        deploy={"id": "x", "seq": 3},
        extra={"git": {"commit": "abcdef1234567"}},
    )
    body = json.loads(
        webhook_body(event_id=9, name="deploy.rollback", document=document, payload_format="json")
    )
    assert body["id"] == "9" and body["event"] == "deploy.rollback"
    assert body["deploy"]["seq"] == 3 and body["git"]["commit"] == "abcdef1234567"
    slack = json.loads(
        webhook_body(event_id=9, name="deploy.rollback", document=document, payload_format="slack")
    )
    assert slack == {
        "text": "*deploy.rollback*: ada — deploy #3 of Deployment d1 (commit abcdef123456)"
    }


def test_a_hold_names_its_rollback() -> None:
    document = ecs_event(
        action="deployment.hold.set",
        outcome="success",
        actor="ada",
        deployment_id="d1",
        message="v2 broke the load",
        extra={"hold": {"deploy_id": "x", "seq": 4}},
    )
    body = json.loads(
        webhook_body(event_id=3, name="deployment.held", document=document, payload_format="json")
    )
    assert body["hold"] == {"deploy_id": "x", "seq": 4} and body["deploy"] is None
    slack = json.loads(
        webhook_body(event_id=3, name="deployment.held", document=document, payload_format="slack")
    )
    assert slack == {
        "text": "*deployment.held*: ada — deploy #4 of Deployment d1: v2 broke the load"
    }
