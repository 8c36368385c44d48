"""HTTP routes for webhooks: per Deployment, and installation-wide for System Admins."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from tarmac.api.dependencies import (
    CurrentPrincipal,
    InstallationDep,
    ReadSession,
    WriteSession,
    commit,
)
from tarmac.webhooks import service
from tarmac.webhooks.schemas import DeliveryList, WebhookIn, WebhookList, WebhookOut
from tarmac.webhooks.url_policy import server_of

router = APIRouter(prefix="/api/v1", tags=["webhooks"])


@router.post(
    "/deployments/{deployment_id}/webhooks",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookOut,
)
def create_deployment_webhook(
    deployment_id: str,
    body: WebhookIn,
    request: Request,
    principal: CurrentPrincipal,
    session: WriteSession,
    installation: InstallationDep,
) -> WebhookOut:
    """Subscribe a URL to this Deployment's events; deliveries are signed with ``secret``."""
    return _create(deployment_id, body, request, principal, session, installation)


@router.post("/webhooks", status_code=status.HTTP_201_CREATED, response_model=WebhookOut)
def create_installation_webhook(
    body: WebhookIn,
    request: Request,
    principal: CurrentPrincipal,
    session: WriteSession,
    installation: InstallationDep,
) -> WebhookOut:
    """Subscribe a URL to every Deployment's events (System Admins)."""
    return _create(None, body, request, principal, session, installation)


def _create(
    deployment_id: str | None,
    body: WebhookIn,
    request: Request,
    principal: CurrentPrincipal,
    session: WriteSession,
    installation: InstallationDep,
) -> WebhookOut:
    webhook = service.create_webhook(
        session,
        principal=principal,
        deployment_id=deployment_id,
        request=body,
        secrets=installation.secrets,
        allow_loopback=installation.settings.webhook_allow_loopback,
        server=server_of(request.url),
    )
    out = service.webhook_out(webhook)
    commit(session, installation)
    return out


@router.get("/deployments/{deployment_id}/webhooks", response_model=WebhookList)
def list_deployment_webhooks(
    deployment_id: str, principal: CurrentPrincipal, session: ReadSession
) -> WebhookList:
    items = service.list_webhooks(session, principal=principal, deployment_id=deployment_id)
    return WebhookList(items=[service.webhook_out(w) for w in items])


@router.get("/webhooks", response_model=WebhookList)
def list_installation_webhooks(principal: CurrentPrincipal, session: ReadSession) -> WebhookList:
    items = service.list_webhooks(session, principal=principal, deployment_id=None)
    return WebhookList(items=[service.webhook_out(w) for w in items])


@router.delete(
    "/deployments/{deployment_id}/webhooks/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
)
def delete_deployment_webhook(
    deployment_id: str,
    webhook_id: str,
    principal: CurrentPrincipal,
    session: WriteSession,
    installation: InstallationDep,
) -> Response:
    service.delete_webhook(
        session, principal=principal, deployment_id=deployment_id, webhook_id=webhook_id
    )
    commit(session, installation)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/deployments/{deployment_id}/webhooks/{webhook_id}/deliveries", response_model=DeliveryList
)
def list_deployment_deliveries(
    deployment_id: str, webhook_id: str, principal: CurrentPrincipal, session: ReadSession
) -> DeliveryList:
    """The delivery log, newest first: status, attempts, last error."""
    items = service.list_deliveries(
        session, principal=principal, deployment_id=deployment_id, webhook_id=webhook_id
    )
    return DeliveryList(items=[service.delivery_out(d) for d in items])


@router.get("/webhooks/{webhook_id}/deliveries", response_model=DeliveryList)
def list_installation_deliveries(
    webhook_id: str, principal: CurrentPrincipal, session: ReadSession
) -> DeliveryList:
    items = service.list_deliveries(
        session, principal=principal, deployment_id=None, webhook_id=webhook_id
    )
    return DeliveryList(items=[service.delivery_out(d) for d in items])
