"""The Deployments list: name, runtime, DAG deploy mode, live deploy, last deploy time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from tarmac.access.principal import Principal
from tarmac.api.dependencies import InstallationDep
from tarmac.deployments.models import Deployment
from tarmac.deployments.service import list_deployments
from tarmac.deploys.models import Deploy, live_deploy
from tarmac.deploys.service import list_deploys
from tarmac.errors import PermissionDenied
from tarmac.runtimes.catalog import RuntimeVersion
from tarmac.ui.auth import UiPrincipal
from tarmac.ui.rendering import render
from tarmac.ui.route_class import UiRoute

router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)


@dataclass(frozen=True)
class DeploymentRow:
    """One line of the list, read-only."""

    deployment: Deployment
    runtime: RuntimeVersion | None
    live: Deploy | None
    last_deploy_at: datetime | None


@router.get("/deployments")
def deployments_page(
    request: Request, principal: UiPrincipal, installation: InstallationDep
) -> Response:
    with installation.database.session() as db:
        rows = [
            _row(
                db,
                principal=principal,
                deployment=d,
                runtime=installation.catalog.find(d.runtime_version),
            )
            for d in list_deployments(db, principal=principal)
        ]
        return render(request, "deployments.html", rows=rows)


@router.get("/deployments/{deployment_id}")
def deployment_home(deployment_id: str) -> Response:
    return RedirectResponse(f"/ui/deployments/{deployment_id}/history", status_code=303)


def _row(
    db: Session, *, principal: Principal, deployment: Deployment, runtime: RuntimeVersion | None
) -> DeploymentRow:
    try:
        newest, _cursor, _ = list_deploys(
            db, principal=principal, deployment_id=deployment.id, limit=1
        )
    except PermissionDenied:
        return DeploymentRow(deployment=deployment, runtime=runtime, live=None, last_deploy_at=None)
    latest = newest[0] if newest else None
    return DeploymentRow(
        deployment=deployment,
        runtime=runtime,
        live=live_deploy(db, deployment),
        last_deploy_at=latest.created_at if latest else None,
    )
