"""Pinned deploys: kept by cleanup, and rollback targets even past the window."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tarmac.access import roles
from tarmac.access.principal import Principal
from tarmac.deployments.models import Deployment
from tarmac.deploys.models import Deploy
from tarmac.deploys.recording import deploy_fields
from tarmac.deploys.refs import deploy_not_found
from tarmac.deploys.service import get_deploy
from tarmac.events.ecs import ecs_event
from tarmac.events.service import record_event


def set_pinned(
    session: Session, *, principal: Principal, deployment_id: str, deploy_id: str, pinned: bool
) -> tuple[Deploy, Deployment]:
    """Pin or unpin a deploy; records an event only when that changes something."""
    deploy, deployment = get_deploy(
        session, principal=principal, deployment_id=deployment_id, deploy_id=deploy_id
    )
    principal.require(roles.DEPLOYS_PIN, deployment_id=deployment_id)
    # Lock the row: a cleanup deleting it concurrently either went first (404) or waits
    # for this transaction and then sees the pin.
    locked = session.get(Deploy, deploy.id, with_for_update=True, populate_existing=True)
    if locked is None:
        raise deploy_not_found(deploy_id)
    deploy = locked
    if deploy.pinned == pinned:
        return deploy, deployment
    deploy.pinned = pinned
    session.flush()
    record_event(
        session,
        ecs_event(
            action="deploy.pin" if pinned else "deploy.unpin",
            outcome="success",
            actor=principal.username,
            deployment_id=deployment_id,
            deploy={**deploy_fields(deploy), "pinned": pinned},
        ),
    )
    return deploy, deployment
