"""The hold a rollback leaves on its Deployment, and clearing it.

The hold's fields live on the Deployment row and change only under the Deployment's
deploy lock, so a concurrent deploy and hold clear see it either set or cleared.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from tarmac.access import roles
from tarmac.access.principal import Principal
from tarmac.db.base import utcnow
from tarmac.deployments.models import Deployment
from tarmac.deployments.service import get_deployment
from tarmac.deploys.locking import lock_deployment
from tarmac.deploys.models import Deploy
from tarmac.errors import DescriptionRequired, InvalidRequest, PermissionDenied
from tarmac.events.ecs import ecs_event
from tarmac.events.service import record_event
from tarmac.safe_ops.gates import HoldFacts
from tarmac.safe_ops.schemas import MAX_REASON_LENGTH


def hold_facts(session: Session, deployment: Deployment) -> HoldFacts | None:
    if deployment.hold_deploy_id is None or deployment.hold_set_at is None:
        return None
    rollback = session.get(Deploy, deployment.hold_deploy_id)
    return HoldFacts(
        deploy_id=deployment.hold_deploy_id,
        deploy_seq=rollback.seq if rollback else None,
        set_by=deployment.hold_set_by,
        reason=deployment.hold_reason,
        set_at=deployment.hold_set_at,
        deploy_is_rollback=rollback is None or rollback.rollback_from_id is not None,
    )


def set_hold_after_rollback(
    session: Session,
    *,
    deployment: Deployment,
    rollback: Deploy,
    actor: str | None,
    reason: str | None = None,
) -> None:
    """Hold the (locked) Deployment after ``rollback`` went live, unless holds are off.

    ``reason`` defaults to the rollback's description.
    """
    if not deployment.rollback_hold_enabled:
        return
    reason = reason or rollback.description
    deployment.hold_deploy_id = rollback.id
    deployment.hold_set_by = actor
    deployment.hold_reason = reason
    deployment.hold_set_at = utcnow()
    record_event(
        session,
        ecs_event(
            action="deployment.hold.set",
            outcome="success",
            actor=actor,
            deployment_id=deployment.id,
            message=reason,
            extra={"hold": {"deploy_id": rollback.id, "seq": rollback.seq}},
        ),
    )


def clear_hold(
    session: Session,
    *,
    principal: Principal,
    deployment_id: str,
    reason: str | None,
    lock_timeout_seconds: float,
) -> Deployment:
    """Clear the hold (anyone who may deploy), saying why; clearing no hold changes nothing."""
    get_deployment(session, principal=principal, deployment_id=deployment_id)
    require_deploy_rights(principal, deployment_id)
    why = check_reason(reason)
    deployment = lock_deployment(
        session, deployment_id=deployment_id, timeout_seconds=lock_timeout_seconds
    )
    release_hold(session, deployment=deployment, actor=principal.username, reason=why)
    return deployment


def release_hold(
    session: Session,
    *,
    deployment: Deployment,
    actor: str | None,
    reason: str,
    via_deploy: Deploy | None = None,
) -> bool:
    """Clear every field of the (locked) Deployment's hold at once; False if none was set."""
    if deployment.hold_deploy_id is None:
        return False
    held = {
        "deploy_id": deployment.hold_deploy_id,
        "set_by": deployment.hold_set_by,
        "reason": deployment.hold_reason,
    }
    deployment.hold_deploy_id = None
    deployment.hold_set_by = None
    deployment.hold_reason = None
    deployment.hold_set_at = None
    session.flush()
    extra: dict[str, object] = {"hold": held}
    if via_deploy is not None:
        extra["cleared_by_deploy"] = {"id": via_deploy.id, "seq": via_deploy.seq}
    record_event(
        session,
        ecs_event(
            action="deployment.hold.clear",
            outcome="success",
            actor=actor,
            deployment_id=deployment.id,
            message=reason,
            extra=extra,
        ),
    )
    return True


def require_deploy_rights(principal: Principal, deployment_id: str) -> None:
    if principal.has(roles.IMAGES_PUSH, deployment_id=deployment_id) or principal.has(
        roles.DAGS_PUSH, deployment_id=deployment_id
    ):
        return
    raise PermissionDenied(
        f"{principal.username} may not deploy to this Deployment "
        "(needs deployment.images.push or deployment.dags.push)"
    )


def check_reason(reason: str | None) -> str:
    """A required reason, trimmed: ``description_required`` when missing."""
    trimmed = (reason or "").strip()
    if not trimmed:
        raise DescriptionRequired("Say why (reason).", field="reason")
    if len(trimmed) > MAX_REASON_LENGTH:
        raise InvalidRequest(
            f"The reason is longer than {MAX_REASON_LENGTH} characters.", field="reason"
        )
    return trimmed
