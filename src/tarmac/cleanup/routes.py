"""HTTP route for the admin cleanup of deploy revisions."""

from __future__ import annotations

from fastapi import APIRouter, Body

from tarmac.access import roles
from tarmac.api.dependencies import CurrentPrincipal, InstallationDep
from tarmac.cleanup.runner import run_cleanup
from tarmac.cleanup.schemas import CleanupOut, CleanupRequest

router = APIRouter(prefix="/api/v1/admin", tags=["cleanup"])


@router.post("/cleanup-deploy-revisions", response_model=CleanupOut)
def cleanup_deploy_revisions(
    principal: CurrentPrincipal,
    installation: InstallationDep,
    body: CleanupRequest = Body(default_factory=CleanupRequest),
) -> CleanupOut:
    """Delete deploys older than the window (never live or pinned ones) and unused bundles."""
    principal.require(roles.SYSTEM_CLEANUP)
    report = run_cleanup(
        installation,
        actor=principal.username,
        older_than_days=body.older_than_days,
        dry_run=body.dry_run,
        grace_seconds=body.grace_seconds,
    )
    return CleanupOut.model_validate(report.to_json())
