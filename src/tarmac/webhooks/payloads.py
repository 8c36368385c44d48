"""What a webhook receives: the event name, the JSON body, its signature and headers."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

EVENT_NAMES = (
    "deploy.created",
    "deploy.rollback",
    "deploy.failed",
    "rollback.refused",
    "deployment.updated",
    "deployment.held",
    "deployment.hold_cleared",
    "deploy.marked_bad",
    "deploy.unmarked_bad",
)
_SUCCESSES = {
    "deployment.update": "deployment.updated",
    "deployment.hold.set": "deployment.held",
    "deployment.hold.clear": "deployment.hold_cleared",
    "deploy.mark_bad": "deploy.marked_bad",
    "deploy.unmark_bad": "deploy.unmarked_bad",
}
"""Events that stand for one webhook event each (audit actions → webhook names)."""
SIGNATURE_HEADER = "X-Tarmac-Signature"
EVENT_ID_HEADER = "X-Tarmac-Event-Id"


def webhook_event_name(document: dict[str, Any]) -> str | None:
    """The webhook event an ECS event document stands for, or None if none does."""
    event = document.get("event", {})
    action, outcome = event.get("action"), event.get("outcome")
    has_deploy = "deploy" in document.get("tarmac", {})
    if action == "deploy.create":
        return "deploy.created" if outcome == "success" else "deploy.failed"
    if action == "deploy.rollback":
        if outcome == "success":
            return "deploy.rollback"
        return "deploy.failed" if has_deploy else "rollback.refused"
    return _SUCCESSES.get(action) if outcome == "success" else None


def event_deployment_id(document: dict[str, Any]) -> str | None:
    deployment = document.get("tarmac", {}).get("deployment") or {}
    value = deployment.get("id")
    return value if isinstance(value, str) else None


def webhook_body(
    *, event_id: int, name: str, document: dict[str, Any], payload_format: str
) -> bytes:
    """The bytes POSTed (and signed): tarmac's JSON, or a Slack-compatible ``{text}``."""
    details = document.get("tarmac", {})
    if payload_format == "slack":
        body: dict[str, Any] = {"text": slack_text(name, document)}
    else:
        body = {
            "id": str(event_id),
            "event": name,
            "occurred_at": document.get("@timestamp"),
            "actor": document.get("user", {}).get("name"),
            "message": document.get("message"),
            "deployment": details.get("deployment"),
            "deploy": details.get("deploy"),
            "git": details.get("git"),
            "rollback": details.get("rollback"),
            "hold": details.get("hold"),
        }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def slack_text(name: str, document: dict[str, Any]) -> str:
    details = document.get("tarmac", {})
    deploy = details.get("deploy") or details.get("hold") or {}  # a hold names its rollback
    deployment = (details.get("deployment") or {}).get("id", "?")
    actor = document.get("user", {}).get("name") or "someone"
    what = f"deploy #{deploy['seq']}" if "seq" in deploy else "a deploy"
    line = f"*{name}*: {actor} — {what} of Deployment {deployment}"
    if commit := (details.get("git") or {}).get("commit"):
        line += f" (commit {commit[:12]})"
    if message := document.get("message"):
        line += f": {message}"
    return line


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the body>``, the ``X-Tarmac-Signature`` value."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: compare in constant time."""
    return hmac.compare_digest(signature(secret, body), header)


def delivery_headers(
    *, secret: str, body: bytes, name: str, event_id: int, delivery_id: str
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "tarmac-webhooks",
        "X-Tarmac-Event": name,
        EVENT_ID_HEADER: str(event_id),
        "X-Tarmac-Delivery": delivery_id,
        SIGNATURE_HEADER: signature(secret, body),
    }
