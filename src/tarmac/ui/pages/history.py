"""Deploy History: newest first, a page at a time, with a Deploy button on possible targets."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from tarmac.access.principal import Principal
from tarmac.api.dependencies import InstallationDep
from tarmac.db.base import utcnow
from tarmac.deploys.pins import set_pinned
from tarmac.errors import TarmacError
from tarmac.installation.context import Installation
from tarmac.rollouts.service import runtime_status
from tarmac.safe_ops.hold import clear_hold
from tarmac.safe_ops.marks import set_marked_bad
from tarmac.ui.auth import CheckedForm, UiPrincipal
from tarmac.ui.forms import text_field
from tarmac.ui.history_view import build_history_page
from tarmac.ui.rendering import render
from tarmac.ui.route_class import UiRoute

router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)


@router.get("/deployments/{deployment_id}/history")
def history_page(
    request: Request,
    deployment_id: str,
    principal: UiPrincipal,
    installation: InstallationDep,
    cursor: str | None = None,
    rolled_back: str | None = None,
    hold_cleared: str | None = None,
) -> Response:
    return _render_history(
        request,
        principal,
        installation,
        deployment_id,
        cursor=cursor,
        rolled_back=rolled_back,
        hold_cleared=bool(hold_cleared),
    )


def _render_history(
    request: Request,
    principal: Principal,
    installation: Installation,
    deployment_id: str,
    *,
    cursor: str | None = None,
    rolled_back: str | None = None,
    hold_cleared: bool = False,
    form_error: TarmacError | None = None,
) -> Response:
    with installation.database.session() as db:
        page = build_history_page(
            db,
            principal=principal,
            deployment_id=deployment_id,
            cursor=cursor or None,
            flags=installation.flags,
            catalog=installation.catalog,
            now=utcnow(),
        )
        new_row = next((r for r in page.rows if r.deploy.id == rolled_back), None)
        runtime = runtime_status(db, principal=principal, deployment_id=deployment_id)
        seqs = {r.deploy.id: r.deploy.seq for r in page.rows}
        return render(
            request,
            "history.html",
            page=page,
            deployment=page.deployment,
            section="history",
            first_page=not cursor,
            new_row=new_row,
            runtime=runtime,
            seq_of=seqs,
            hold_cleared=hold_cleared,
            form_error=form_error,
            status=form_error.status if form_error else 200,
        )


@router.post("/deployments/{deployment_id}/deploys/{deploy_id}/pin")
def pin_deploy(
    deployment_id: str,
    deploy_id: str,
    principal: UiPrincipal,
    installation: InstallationDep,
    form: CheckedForm,
) -> Response:
    """Pin (pinned=1) or unpin (pinned=0) a deploy, then back to the history."""
    with installation.database.session(write=True) as db:
        set_pinned(
            db,
            principal=principal,
            deployment_id=deployment_id,
            deploy_id=deploy_id,
            pinned=form.get("pinned") == "1",
        )
        installation.commit(db)
    return RedirectResponse(f"/ui/deployments/{deployment_id}/history", status_code=303)


@router.post("/deployments/{deployment_id}/hold/clear")
def clear_hold_form(
    request: Request,
    deployment_id: str,
    principal: UiPrincipal,
    installation: InstallationDep,
    form: CheckedForm,
) -> Response:
    """Clear the rollback hold, saying why, through the same service as the API."""
    try:
        with installation.database.session(write=True) as db:
            clear_hold(
                db,
                principal=principal,
                deployment_id=deployment_id,
                reason=text_field(form, "reason"),
                lock_timeout_seconds=installation.settings.deploy_lock_timeout_seconds,
            )
            installation.commit(db)
    except TarmacError as error:
        return _render_history(request, principal, installation, deployment_id, form_error=error)
    return RedirectResponse(
        f"/ui/deployments/{deployment_id}/history?hold_cleared=1", status_code=303
    )


@router.post("/deployments/{deployment_id}/deploys/{deploy_id}/mark-bad")
def mark_bad_form(
    request: Request,
    deployment_id: str,
    deploy_id: str,
    principal: UiPrincipal,
    installation: InstallationDep,
    form: CheckedForm,
) -> Response:
    """Mark a deploy bad (bad=1) or take the mark off (bad=0), saying why."""
    try:
        with installation.database.session(write=True) as db:
            set_marked_bad(
                db,
                principal=principal,
                deployment_id=deployment_id,
                deploy_id=deploy_id,
                reason=text_field(form, "reason"),
                bad=text_field(form, "bad") != "0",
                lock_timeout_seconds=installation.settings.deploy_lock_timeout_seconds,
            )
            installation.commit(db)
    except TarmacError as error:
        return _render_history(request, principal, installation, deployment_id, form_error=error)
    return RedirectResponse(f"/ui/deployments/{deployment_id}/history", status_code=303)
