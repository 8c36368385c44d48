"""The Webhooks tab: each webhook with its delivery log, a form to add one, and removal.

Only those who may change the Deployment's configuration see the tab at all (webhook URLs
can carry tokens), so whoever sees the form may use it."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tarmac.access.principal import Principal
from tarmac.api.dependencies import InstallationDep, commit
from tarmac.deployments.service import get_deployment
from tarmac.errors import InvalidRequest, TarmacError
from tarmac.ui.auth import CheckedForm, UiPrincipal
from tarmac.ui.forms import text_field, text_fields, validation_message
from tarmac.ui.rendering import render
from tarmac.ui.route_class import UiRoute
from tarmac.webhooks.payloads import EVENT_NAMES
from tarmac.webhooks.schemas import WebhookIn
from tarmac.webhooks.service import (
    create_webhook,
    delete_webhook,
    delivery_out,
    list_deliveries,
    list_webhooks,
    webhook_out,
)
from tarmac.webhooks.url_policy import server_of

router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)

PATH = "/deployments/{deployment_id}/webhooks"


@dataclass
class NewWebhook:
    """What the form shows: empty, or as submitted (never the secret)."""

    url: str = ""
    events: list[str] = field(default_factory=lambda: ["deploy.rollback", "deploy.failed"])
    payload_format: str = "json"


@router.get(PATH)
def webhooks_page(
    request: Request,
    deployment_id: str,
    principal: UiPrincipal,
    installation: InstallationDep,
    added: bool = False,
    removed: bool = False,
) -> Response:
    with installation.database.session() as db:
        return _page(
            request,
            db,
            principal=principal,
            deployment_id=deployment_id,
            added=added,
            removed=removed,
        )


@router.post(PATH)
def add_webhook(
    request: Request,
    deployment_id: str,
    principal: UiPrincipal,
    installation: InstallationDep,
    form: CheckedForm,
) -> Response:
    """Subscribe through the same service (and checks: permission, URL policy) as the API."""
    values = NewWebhook(
        url=text_field(form, "url").strip(),
        events=text_fields(form, "events"),
        payload_format=text_field(form, "payload_format") or "json",
    )
    with installation.database.session(write=True) as db:
        try:
            create_webhook(
                db,
                principal=principal,
                deployment_id=deployment_id,
                request=_webhook_in(values, form),
                secrets=installation.secrets,
                allow_loopback=installation.settings.webhook_allow_loopback,
                server=server_of(request.url),
            )
            commit(db, installation)
        except TarmacError as error:
            db.rollback()
            return _page(
                request,
                db,
                principal=principal,
                deployment_id=deployment_id,
                values=values,
                error=error,
            )
    return RedirectResponse(f"/ui{PATH.format(deployment_id=deployment_id)}?added=1", 303)


@router.post(PATH + "/{webhook_id}/delete")
def remove_webhook(
    deployment_id: str,
    webhook_id: str,
    principal: UiPrincipal,
    installation: InstallationDep,
    form: CheckedForm,
) -> Response:
    with installation.database.session(write=True) as db:
        delete_webhook(db, principal=principal, deployment_id=deployment_id, webhook_id=webhook_id)
        commit(db, installation)
    return RedirectResponse(f"/ui{PATH.format(deployment_id=deployment_id)}?removed=1", 303)


def _webhook_in(values: NewWebhook, form: FormData) -> WebhookIn:
    try:
        return WebhookIn.model_validate(
            {
                "url": values.url,
                "events": values.events,
                "secret": text_field(form, "secret"),
                "payload_format": values.payload_format,
            }
        )
    except ValidationError as exc:
        raise InvalidRequest(validation_message(exc)) from exc


def _page(
    request: Request,
    db: Session,
    *,
    principal: Principal,
    deployment_id: str,
    values: NewWebhook | None = None,
    error: TarmacError | None = None,
    added: bool = False,
    removed: bool = False,
) -> Response:
    deployment = get_deployment(db, principal=principal, deployment_id=deployment_id)
    hooks = [
        (
            webhook_out(hook),
            [
                delivery_out(d)
                for d in list_deliveries(
                    db, principal=principal, deployment_id=deployment_id, webhook_id=hook.id
                )
            ],
        )
        for hook in list_webhooks(db, principal=principal, deployment_id=deployment_id)
    ]
    return render(
        request,
        "webhooks.html",
        status=error.status if error else 200,
        deployment=deployment,
        section="webhooks",
        hooks=hooks,
        event_names=EVENT_NAMES,
        new=values or NewWebhook(),
        error=error,
        added=added,
        removed=removed,
    )
