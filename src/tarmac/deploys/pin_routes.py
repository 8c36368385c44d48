"""HTTP routes to pin and unpin a deploy."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.orm import Session

from tarmac.access.principal import Principal
from tarmac.api.dependencies import CurrentPrincipal, InstallationDep, WriteSession, commit
from tarmac.deploys.pins import set_pinned
from tarmac.deploys.schemas import DeployOut
from tarmac.deploys.service import deploy_out
from tarmac.installation.context import Installation

router = APIRouter(prefix="/api/v1/deployments/{deployment_id}", tags=["deploys"])


@router.put("/deploys/{deploy_id}/pin", response_model=DeployOut)
def pin_deploy(
    deployment_id: str,
    deploy_id: str,
    principal: CurrentPrincipal,
    session: WriteSession,
    installation: InstallationDep,
) -> DeployOut:
    """Pin a deploy: cleanup never deletes it (idempotent)."""
    return _set(session, installation, principal, deployment_id, deploy_id, pinned=True)


@router.delete("/deploys/{deploy_id}/pin", response_model=DeployOut)
def unpin_deploy(
    deployment_id: str,
    deploy_id: str,
    principal: CurrentPrincipal,
    session: WriteSession,
    installation: InstallationDep,
) -> DeployOut:
    """Unpin a deploy (idempotent)."""
    return _set(session, installation, principal, deployment_id, deploy_id, pinned=False)


def _set(
    session: Session,
    installation: Installation,
    principal: Principal,
    deployment_id: str,
    deploy_id: str,
    *,
    pinned: bool,
) -> DeployOut:
    deploy, deployment = set_pinned(
        session,
        principal=principal,
        deployment_id=deployment_id,
        deploy_id=deploy_id,
        pinned=pinned,
    )
    out = deploy_out(deploy, deployment)
    commit(session, installation)
    return out
