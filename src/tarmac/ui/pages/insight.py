"""Insight pages: compare two deploys, DORA figures with a chart."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from tarmac.api.dependencies import InstallationDep
from tarmac.db.base import utcnow
from tarmac.deployments.service import get_deployment
from tarmac.insight import stats
from tarmac.insight.diff import compare_deploys
from tarmac.ui.auth import UiPrincipal
from tarmac.ui.charts import deploys_chart
from tarmac.ui.diff_view import pygments_css, shown_files
from tarmac.ui.pages.rollback import DAG_FILES_SHOWN
from tarmac.ui.rendering import render
from tarmac.ui.route_class import UiRoute

router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)


@router.get("/highlight.css")
def highlight_css() -> Response:
    """Pygments' stylesheet for the compare view (a file, as the CSP allows no inline style)."""
    return Response(
        pygments_css(),
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/deployments/{deployment_id}/compare")
def compare_page(
    request: Request,
    deployment_id: str,
    principal: UiPrincipal,
    installation: InstallationDep,
    a: str = "",
    b: str = "",
) -> Response:
    """Deploy A → deploy B (sequence numbers or ids); either defaults to the live deploy."""
    with installation.database.session() as db:
        deployment = get_deployment(db, principal=principal, deployment_id=deployment_id)
        diff = compare_deploys(
            db,
            principal=principal,
            deployment_id=deployment_id,
            from_ref=a.strip() or deployment.current_deploy_id or "1",
            to_ref=b.strip() or deployment.current_deploy_id or "1",
            blob_store=installation.blob_store,
        )
        return render(
            request,
            "compare.html",
            deployment=deployment,
            section="history",
            diff=diff,
            files_shown=shown_files(diff["file_diffs"]),
            dag_files_shown=DAG_FILES_SHOWN,
        )


@router.get("/deployments/{deployment_id}/insight")
def deployment_insight(
    request: Request,
    deployment_id: str,
    principal: UiPrincipal,
    installation: InstallationDep,
    days: int = 30,
) -> Response:
    with installation.database.session() as db:
        deployment = get_deployment(db, principal=principal, deployment_id=deployment_id)
        figures = stats.deployment_stats(
            db, principal=principal, deployment_id=deployment_id, days=days, now=utcnow()
        )
        return render(
            request,
            "insight.html",
            deployment=deployment,
            section="insight",
            stats=figures,
            chart=deploys_chart(figures.daily, days=figures.days),
        )


@router.get("/insight")
def installation_insight(
    request: Request, principal: UiPrincipal, installation: InstallationDep, days: int = 30
) -> Response:
    with installation.database.session() as db:
        figures = stats.installation_stats(db, principal=principal, days=days, now=utcnow())
        return render(
            request,
            "insight.html",
            deployment=None,
            section="insight",
            stats=figures,
            chart=deploys_chart(figures.daily, days=figures.days),
        )
