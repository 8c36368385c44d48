"""HTTP routes for Deployments and their members."""

from __future__ import annotations

from fastapi import APIRouter, status

from tarmac.api.dependencies import (
    CurrentPrincipal,
    InstallationDep,
    ReadSession,
    WriteSession,
    commit,
)
from tarmac.deployments import service
from tarmac.deployments.schemas import (
    DeploymentCreate,
    DeploymentList,
    DeploymentOut,
    DeploymentUpdate,
    MemberIn,
    MemberOut,
)

router = APIRouter(prefix="/api/v1/deployments", tags=["deployments"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DeploymentOut)
def create_deployment(
    body: DeploymentCreate,
    principal: CurrentPrincipal,
    session: WriteSession,
    installation: InstallationDep,
) -> DeploymentOut:
    deployment = service.create_deployment(
        session,
        principal=principal,
        request=body,
        flags=installation.flags,
        catalog=installation.catalog,
        secrets=installation.secrets,
    )
    commit(session, installation)
    return service.deployment_out(deployment)


@router.get("", response_model=DeploymentList)
def list_deployments(principal: CurrentPrincipal, session: ReadSession) -> DeploymentList:
    items = service.list_deployments(session, principal=principal)
    return DeploymentList(items=[service.deployment_out(d) for d in items])


@router.get("/{deployment_id}", response_model=DeploymentOut)
def get_deployment(
    deployment_id: str, principal: CurrentPrincipal, session: ReadSession
) -> DeploymentOut:
    deployment = service.get_deployment(session, principal=principal, deployment_id=deployment_id)
    return service.deployment_out(deployment)


@router.patch("/{deployment_id}", response_model=DeploymentOut)
def update_deployment(
    deployment_id: str,
    body: DeploymentUpdate,
    principal: CurrentPrincipal,
    session: WriteSession,
    installation: InstallationDep,
) -> DeploymentOut:
    deployment = service.update_deployment(
        session,
        principal=principal,
        deployment_id=deployment_id,
        changes=body,
        flags=installation.flags,
        secrets=installation.secrets,
    )
    commit(session, installation)
    return service.deployment_out(deployment)


@router.put("/{deployment_id}/members/{user_id}", response_model=MemberOut)
def set_member(
    deployment_id: str,
    user_id: str,
    body: MemberIn,
    principal: CurrentPrincipal,
    session: WriteSession,
    installation: InstallationDep,
) -> MemberOut:
    service.set_member(
        session, principal=principal, deployment_id=deployment_id, user_id=user_id, role=body.role
    )
    commit(session, installation)
    return MemberOut(deployment_id=deployment_id, user_id=user_id, role=body.role)
