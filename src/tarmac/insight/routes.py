"""HTTP routes: compare two deploys, and DORA stats per Deployment or installation-wide."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from tarmac.api.dependencies import CurrentPrincipal, InstallationDep, ReadSession
from tarmac.db.base import utcnow
from tarmac.insight import stats
from tarmac.insight.diff import compare_deploys

router = APIRouter(prefix="/api/v1", tags=["insight"])

DaysQuery = Annotated[int, Query(description="The period: the last N days (1-365).")]


@router.get("/deployments/{deployment_id}/deploys/{from_ref}/diff/{to_ref}")
def diff_deploys(
    deployment_id: str,
    from_ref: str,
    to_ref: str,
    principal: CurrentPrincipal,
    session: ReadSession,
    installation: InstallationDep,
) -> dict[str, Any]:
    """What changes from deploy A to deploy B (ids or sequence numbers): code state,
    DAG files added/removed/changed, and a bounded unified diff per changed text file."""
    return compare_deploys(
        session,
        principal=principal,
        deployment_id=deployment_id,
        from_ref=from_ref,
        to_ref=to_ref,
        blob_store=installation.blob_store,
    )


@router.get("/deployments/{deployment_id}/stats")
def deployment_stats(
    deployment_id: str, principal: CurrentPrincipal, session: ReadSession, days: DaysQuery = 30
) -> dict[str, object]:
    """Deploy frequency, rollbacks, change failure rate, time to restore, lead time."""
    return stats.deployment_stats(
        session, principal=principal, deployment_id=deployment_id, days=days, now=utcnow()
    ).to_json()


@router.get("/stats")
def installation_stats(
    principal: CurrentPrincipal, session: ReadSession, days: DaysQuery = 30
) -> dict[str, object]:
    """The same figures over every Deployment the caller may read."""
    return stats.installation_stats(session, principal=principal, days=days, now=utcnow()).to_json()
