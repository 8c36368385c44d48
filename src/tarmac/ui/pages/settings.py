"""Settings: the Rollback Deploy toggle, name, description, variables and resources."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from tarmac.access import roles
from tarmac.access.principal import Principal
from tarmac.api.dependencies import InstallationDep, commit
from tarmac.deployments.models import Deployment
from tarmac.deployments.service import get_deployment, update_deployment
from tarmac.errors import TarmacError
from tarmac.installation.context import Installation
from tarmac.ui.auth import CheckedForm, UiPrincipal
from tarmac.ui.rendering import render
from tarmac.ui.route_class import UiRoute
from tarmac.ui.settings_form import (
    BLANK_ENV_ROWS,
    SettingsValues,
    requested_update,
    submitted_values,
    values_of,
)

router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)

PATH = "/deployments/{deployment_id}/settings"


@router.get(PATH)
def settings_page(
    request: Request,
    deployment_id: str,
    principal: UiPrincipal,
    installation: InstallationDep,
    saved: bool = False,
) -> Response:
    with installation.database.session() as db:
        deployment = get_deployment(db, principal=principal, deployment_id=deployment_id)
        return _page(
            request,
            principal=principal,
            installation=installation,
            deployment=deployment,
            values=values_of(deployment),
            saved=saved,
        )


@router.post(PATH)
def save_settings(
    request: Request,
    deployment_id: str,
    principal: UiPrincipal,
    installation: InstallationDep,
    form: CheckedForm,
) -> Response:
    """Apply the form through the same service (and permission check) as PATCH."""
    with installation.database.session(write=True) as db:
        deployment = get_deployment(db, principal=principal, deployment_id=deployment_id)
        try:
            update_deployment(
                db,
                principal=principal,
                deployment_id=deployment_id,
                changes=requested_update(form, deployment),
                flags=installation.flags,
                secrets=installation.secrets,
            )
            commit(db, installation)
        except TarmacError as error:
            db.rollback()
            deployment = get_deployment(db, principal=principal, deployment_id=deployment_id)
            return _page(
                request,
                principal=principal,
                installation=installation,
                deployment=deployment,
                values=submitted_values(form, deployment),
                error=error,
            )
    return RedirectResponse(f"/ui/deployments/{deployment_id}/settings?saved=1", status_code=303)


def _page(
    request: Request,
    *,
    principal: Principal,
    installation: Installation,
    deployment: Deployment,
    values: SettingsValues,
    saved: bool = False,
    error: TarmacError | None = None,
) -> Response:
    flags = installation.flags
    return render(
        request,
        "settings.html",
        status=error.status if error else 200,
        deployment=deployment,
        section="settings",
        values=values,
        blank_rows=BLANK_ENV_ROWS,
        can_edit=principal.has(roles.CONFIG_UPDATE, deployment_id=deployment.id),
        rollbacks_allowed=flags.rollbacks_allowed,
        missing_flags=flags.missing_rollback_flags(),
        saved=saved,
        error=error,
        error_field=_field_of(error),
        field_labels=FIELD_LABELS,
    )


FIELD_LABELS = {
    "rollback_enabled": "Rollback Deploy",
    "name": "Name",
    "description": "Description",
    "env_vars": "Environment variables",
    "resources": "Resources",
}


def _field_of(error: TarmacError | None) -> str | None:
    """The form field an error is about, so the page shows it there; None for the form."""
    if error is None:
        return None
    if error.code == "rollback_disabled":
        return "rollback_enabled"
    field = str(error.details.get("field") or "").split(".")[0]
    return field if field in FIELD_LABELS else None
