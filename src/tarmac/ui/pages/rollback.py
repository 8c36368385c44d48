"""The rollback dialog: the dry-run plan, a checkbox per warning, a description, Confirm."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from tarmac.access import roles
from tarmac.access.principal import Principal
from tarmac.api.dependencies import InstallationDep
from tarmac.deploys.descriptions import MAX_DESCRIPTION_LENGTH
from tarmac.deploys.service import get_deploy
from tarmac.errors import TarmacError
from tarmac.installation.context import Installation
from tarmac.rollbacks.perform import perform_rollback
from tarmac.rollbacks.plan import ACKNOWLEDGEABLE_WARNINGS
from tarmac.rollbacks.policy import MARKED_BAD
from tarmac.rollbacks.service import RollbackRequest, preview_rollback
from tarmac.safe_ops.schemas import marked_bad_out
from tarmac.ui.auth import CheckedForm, UiPrincipal
from tarmac.ui.forms import text_field, text_fields
from tarmac.ui.rendering import render
from tarmac.ui.route_class import UiRoute

router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)

PATH = "/deployments/{deployment_id}/deploys/{deploy_id}/rollback"
DAG_FILES_SHOWN = 200


@router.get(PATH)
def rollback_dialog(
    request: Request,
    deployment_id: str,
    deploy_id: str,
    principal: UiPrincipal,
    installation: InstallationDep,
) -> Response:
    """The plan of rolling back to ``deploy_id``, or why it cannot be done."""
    return _dialog(
        request,
        principal=principal,
        installation=installation,
        deployment_id=deployment_id,
        deploy_id=deploy_id,
    )


@router.post(PATH)
def confirm_rollback(
    request: Request,
    deployment_id: str,
    deploy_id: str,
    principal: UiPrincipal,
    installation: InstallationDep,
    form: CheckedForm,
) -> Response:
    """Roll back through the API's own entry point: same rules, lock, and refusal log."""
    description = text_field(form, "description")
    ticked = frozenset(text_fields(form, "acknowledge"))
    state = {"description": description, "ticked": ticked}
    try:
        outcome = perform_rollback(
            installation,
            principal=principal,
            deployment_id=deployment_id,
            target_deploy_id=deploy_id,
            request=RollbackRequest(
                description=description,
                dry_run=False,
                acknowledge=frozenset(ticked & (ACKNOWLEDGEABLE_WARNINGS | {MARKED_BAD})),
            ),
            idempotency_key=text_field(form, "idempotency_key") or None,
        )
        assert outcome.deploy is not None
        new_deploy = outcome.deploy
    except TarmacError as error:
        return _dialog(
            request,
            principal=principal,
            installation=installation,
            deployment_id=deployment_id,
            deploy_id=deploy_id,
            error=error,
            state=state,
        )
    return RedirectResponse(
        f"/ui/deployments/{deployment_id}/history?rolled_back={new_deploy.id}", status_code=303
    )


def _dialog(
    request: Request,
    *,
    principal: Principal,
    installation: Installation,
    deployment_id: str,
    deploy_id: str,
    error: TarmacError | None = None,
    state: dict[str, Any] | None = None,
) -> Response:
    with installation.database.session() as db:
        target, deployment = get_deploy(
            db, principal=principal, deployment_id=deployment_id, deploy_id=deploy_id
        )
        # A bad mark is a box to tick in the dialog, not a dead end: preview past it.
        decision = preview_rollback(
            db,
            principal=principal,
            deployment_id=deployment_id,
            target_deploy_id=deploy_id,
            request=RollbackRequest(
                description=None, dry_run=True, acknowledge=frozenset({MARKED_BAD})
            ),
            flags=installation.flags,
            catalog=installation.catalog,
        )
        plan = decision.plan.to_json() if decision.plan else None
        return render(
            request,
            "rollback.html",
            status=error.status if error else 200,
            deployment=deployment,
            section="history",
            target=target,
            plan=plan,
            refusals=decision.refusals,
            error=error,
            description=(state or {}).get("description", ""),
            ticked=(state or {}).get("ticked", frozenset()),
            max_description=MAX_DESCRIPTION_LENGTH,
            idempotency_key=uuid.uuid4().hex,
            dag_files_shown=DAG_FILES_SHOWN,
            can_configure=principal.has(roles.CONFIG_UPDATE, deployment_id=deployment_id),
            marked_bad=marked_bad_out(target),
        )
