"""HTTP route reporting the installation's effective flags."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from tarmac.api.dependencies import CurrentPrincipal, InstallationDep

router = APIRouter(prefix="/api/v1", tags=["installation"])


class CleanupOut(BaseModel):
    enabled: bool
    older_than_days: int


class InstallationOut(BaseModel):
    deploy_rollback_enabled: bool
    update_deployment_image_endpoint_enabled: bool
    dag_only_deployment_enabled: bool
    cleanup_deploy_revisions: CleanupOut
    rollbacks_allowed: bool
    missing_rollback_flags: list[str]


@router.get("/installation", response_model=InstallationOut)
def get_installation(
    _principal: CurrentPrincipal, installation: InstallationDep
) -> InstallationOut:
    flags = installation.flags
    return InstallationOut(
        deploy_rollback_enabled=flags.deploy_rollback_enabled,
        update_deployment_image_endpoint_enabled=flags.update_deployment_image_endpoint_enabled,
        dag_only_deployment_enabled=flags.dag_only_deployment_enabled,
        cleanup_deploy_revisions=CleanupOut(
            enabled=flags.cleanup_enabled, older_than_days=flags.cleanup_older_than_days
        ),
        rollbacks_allowed=flags.rollbacks_allowed,
        missing_rollback_flags=flags.missing_rollback_flags(),
    )
