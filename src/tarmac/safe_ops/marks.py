"""Marking a deploy bad (and unmarking it): nobody rolls back onto it without saying so."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from tarmac.access.principal import Principal
from tarmac.db.base import utcnow
from tarmac.deployments.models import Deployment
from tarmac.deploys.locking import lock_deployment
from tarmac.deploys.models import Deploy
from tarmac.deploys.service import get_deploy
from tarmac.events.ecs import ecs_event
from tarmac.events.service import record_event
from tarmac.safe_ops.hold import check_reason, require_deploy_rights


def set_marked_bad(
    session: Session,
    *,
    principal: Principal,
    deployment_id: str,
    deploy_id: str,
    reason: str | None,
    bad: bool,
    lock_timeout_seconds: float,
) -> tuple[Deploy, Deployment]:
    """Mark (``bad``) or unmark a deploy, with a reason; under the Deployment's deploy lock."""
    deploy, _ = get_deploy(
        session, principal=principal, deployment_id=deployment_id, deploy_id=deploy_id
    )
    require_deploy_rights(principal, deployment_id)
    why = check_reason(reason)
    deployment = lock_deployment(
        session, deployment_id=deployment_id, timeout_seconds=lock_timeout_seconds
    )
    if bad:
        mark_bad(session, deploy=deploy, actor=principal.username, reason=why)
    else:
        _unmark(session, deploy=deploy, actor=principal.username, reason=why)
    return deploy, deployment


def mark_bad(session: Session, *, deploy: Deploy, actor: str | None, reason: str) -> None:
    """Mark ``deploy`` bad (again: the newest reason wins) and log it."""
    deploy.marked_bad_reason = reason
    deploy.marked_bad_by = actor
    deploy.marked_bad_at = utcnow()
    session.flush()
    record_event(session, _mark_event("deploy.mark_bad", deploy, actor=actor, reason=reason))


def _unmark(session: Session, *, deploy: Deploy, actor: str | None, reason: str) -> None:
    if deploy.marked_bad_at is None:
        return
    was = {"reason": deploy.marked_bad_reason, "by": deploy.marked_bad_by}
    deploy.marked_bad_reason = None
    deploy.marked_bad_by = None
    deploy.marked_bad_at = None
    session.flush()
    event = _mark_event("deploy.unmark_bad", deploy, actor=actor, reason=reason)
    event["tarmac"]["marked_bad"] = was
    record_event(session, event)


def _mark_event(action: str, deploy: Deploy, *, actor: str | None, reason: str) -> dict[str, Any]:
    return ecs_event(
        action=action,
        outcome="success",
        actor=actor,
        deployment_id=deploy.deployment_id,
        deploy={"id": deploy.id, "seq": deploy.seq},
        message=reason,
    )
