"""Build Elastic Common Schema documents for tarmac's events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tarmac.db.base import utcnow


def ecs_event(
    *,
    action: str,
    outcome: str,
    actor: str | None,
    deployment_id: str | None = None,
    deploy: dict[str, Any] | None = None,
    message: str | None = None,
    extra: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """One ECS document: ``event.action`` such as ``deploy.rollback``, nested tarmac fields."""
    tarmac: dict[str, Any] = dict(extra or {})
    if deployment_id is not None:
        tarmac["deployment"] = {"id": deployment_id, **tarmac.get("deployment", {})}
    if deploy is not None:
        tarmac["deploy"] = deploy
    category = action.split(".", 1)[0]
    document: dict[str, Any] = {
        "@timestamp": (at or utcnow()).isoformat().replace("+00:00", "Z"),
        "ecs": {"version": "8.11.0"},
        "event": {"action": action, "outcome": outcome, "category": [category], "kind": "event"},
        "user": {"name": actor},
        "service": {"name": "tarmac"},
        "tarmac": tarmac,
    }
    if message:
        document["message"] = message
    return document
