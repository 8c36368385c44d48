"""Idempotency-Keys bound to the request they were first used for.

A key names one request: the endpoint, the Deployment and a fingerprint of what was
asked (fields and bundle sha256). A retry of that request replays its deploy; the same
key with anything else is refused (``idempotency_key_reused``), never replayed, so a CI
job that reuses a key for new code is not told the old deploy succeeded.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tarmac.deploys.models import Deploy
from tarmac.errors import IdempotencyKeyReused, InvalidRequest

DEPLOY_ENDPOINT = "deploy"
ROLLBACK_ENDPOINT = "rollback"


@dataclass(frozen=True)
class IdempotencyClaim:
    """A checked Idempotency-Key and the fingerprint of the request that carries it."""

    key: str
    fingerprint: str


def check_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > 255 or not key.isprintable():
        raise InvalidRequest("Idempotency-Key must be 1 to 255 printable characters")
    return key


def claim_for(
    key: str | None, *, endpoint: str, deployment_id: str, request: dict[str, object]
) -> IdempotencyClaim | None:
    """The claim of ``key`` for this request, or None without a key."""
    if key is None:
        return None
    canonical = json.dumps(
        {"endpoint": endpoint, "deployment_id": deployment_id, "request": request},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return IdempotencyClaim(key=key, fingerprint=hashlib.sha256(canonical.encode()).hexdigest())


def find_replay(
    session: Session, *, deployment_id: str, user_id: str, claim: IdempotencyClaim
) -> Deploy | None:
    """The deploy this key made for this very request; raises if it was made for another."""
    earlier = session.scalar(
        select(Deploy)
        .where(Deploy.created_by_id == user_id, Deploy.idempotency_key == claim.key)
        .limit(1)
    )
    if earlier is None:
        return None
    if (
        earlier.deployment_id != deployment_id
        or earlier.idempotency_fingerprint != claim.fingerprint
    ):
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used for a different request "
            "(another endpoint, Deployment, body or bundle); use a new key for a new request"
        )
    return earlier
