"""HTTP routes that keep a deploy from cleanup: pins, and versions reported in use."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from tarmac.access.principal import Principal
from tarmac.api.dependencies import CurrentPrincipal, InstallationDep, WriteSession, commit
from tarmac.deploys.in_use import MAX_IN_USE_SECONDS, mark_in_use
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


class InUseReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: int = Field(ge=1, le=MAX_IN_USE_SECONDS)


class InUseOut(BaseModel):
    deploy_id: str
    in_use_until: datetime


@router.put("/deploys/{deploy_id}/in-use", response_model=InUseOut)
def report_in_use(
    deployment_id: str,
    deploy_id: str,
    body: InUseReport,
    principal: CurrentPrincipal,
    session: WriteSession,
    installation: InstallationDep,
) -> InUseOut:
    """A DAG run still reads this version: cleanup keeps the deploy ``seconds`` more."""
    deploy = mark_in_use(
        session,
        principal=principal,
        deployment_id=deployment_id,
        deploy_id=deploy_id,
        seconds=body.seconds,
    )
    assert deploy.in_use_until is not None
    out = InUseOut(deploy_id=deploy.id, in_use_until=deploy.in_use_until)
    commit(session, installation)
    return out
