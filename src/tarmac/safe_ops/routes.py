"""HTTP routes: clear a Deployment's hold; mark a deploy bad and unmark it."""

from __future__ import annotations

from fastapi import APIRouter

from tarmac.api.dependencies import CurrentPrincipal, InstallationDep, WriteSession, commit
from tarmac.deployments.schemas import DeploymentOut
from tarmac.deployments.service import deployment_out
from tarmac.deploys.schemas import DeployOut
from tarmac.deploys.service import deploy_out
from tarmac.safe_ops.hold import clear_hold
from tarmac.safe_ops.marks import set_marked_bad
from tarmac.safe_ops.schemas import ReasonBody

router = APIRouter(prefix="/api/v1/deployments/{deployment_id}", tags=["safe operations"])


@router.delete("/hold", response_model=DeploymentOut)
def delete_hold(
    deployment_id: str,
    body: ReasonBody,
    principal: CurrentPrincipal,
    session: WriteSession,
    installation: InstallationDep,
) -> DeploymentOut:
    """Clear the hold a rollback left, saying why; plain deploys are accepted again."""
    deployment = clear_hold(
        session,
        principal=principal,
        deployment_id=deployment_id,
        reason=body.reason,
        lock_timeout_seconds=installation.settings.deploy_lock_timeout_seconds,
    )
    out = deployment_out(deployment)
    commit(session, installation)
    return out


@router.post("/deploys/{deploy_id}/mark-bad", response_model=DeployOut)
def mark_bad(
    deployment_id: str,
    deploy_id: str,
    body: ReasonBody,
    principal: CurrentPrincipal,
    session: WriteSession,
    installation: InstallationDep,
) -> DeployOut:
    """Mark a deploy bad: a rollback onto it needs the ``marked_bad`` acknowledgement."""
    return _set_bad(session, installation, principal, deployment_id, deploy_id, body, bad=True)


@router.delete("/deploys/{deploy_id}/mark-bad", response_model=DeployOut)
def unmark_bad(
    deployment_id: str,
    deploy_id: str,
    body: ReasonBody,
    principal: CurrentPrincipal,
    session: WriteSession,
    installation: InstallationDep,
) -> DeployOut:
    """Take the bad mark off a deploy, saying why."""
    return _set_bad(session, installation, principal, deployment_id, deploy_id, body, bad=False)


def _set_bad(
    session: WriteSession,
    installation: InstallationDep,
    principal: CurrentPrincipal,
    deployment_id: str,
    deploy_id: str,
    body: ReasonBody,
    *,
    bad: bool,
) -> DeployOut:
    deploy, deployment = set_marked_bad(
        session,
        principal=principal,
        deployment_id=deployment_id,
        deploy_id=deploy_id,
        reason=body.reason,
        bad=bad,
        lock_timeout_seconds=installation.settings.deploy_lock_timeout_seconds,
    )
    out = deploy_out(deploy, deployment)
    commit(session, installation)
    return out
