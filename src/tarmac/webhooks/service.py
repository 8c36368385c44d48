"""Webhook subscriptions: who may manage them, validation, and the delivery log."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tarmac.access import roles
from tarmac.access.principal import Principal
from tarmac.deployments.secret_values import SecretBox
from tarmac.deployments.service import get_deployment
from tarmac.errors import InvalidRequest, NotFound, PermissionDenied
from tarmac.webhooks.models import Webhook, WebhookDelivery
from tarmac.webhooks.payloads import EVENT_NAMES
from tarmac.webhooks.schemas import DeliveryOut, WebhookIn, WebhookOut
from tarmac.webhooks.url_policy import check_webhook_url

MAX_DELIVERIES_LISTED = 100


def create_webhook(
    session: Session,
    *,
    principal: Principal,
    deployment_id: str | None,
    request: WebhookIn,
    secrets: SecretBox,
    allow_loopback: bool,
    server: tuple[str, int] | None,
) -> Webhook:
    """Subscribe a URL to events; ``deployment_id`` None is installation-wide (admins)."""
    _check_access(session, principal=principal, deployment_id=deployment_id)
    unknown = sorted(set(request.events) - set(EVENT_NAMES))
    if unknown:
        raise InvalidRequest(
            f"unknown events {', '.join(unknown)}; known: {', '.join(EVENT_NAMES)}",
            field="events",
        )
    check_webhook_url(request.url, allow_loopback=allow_loopback, server=server)
    webhook = Webhook(
        deployment_id=deployment_id,
        url=request.url,
        events=sorted(set(request.events)),
        secret_encrypted=secrets.encrypt(request.secret),
        payload_format=request.payload_format,
        created_by=principal.username,
    )
    session.add(webhook)
    session.flush()
    return webhook


def list_webhooks(
    session: Session, *, principal: Principal, deployment_id: str | None
) -> list[Webhook]:
    _check_access(session, principal=principal, deployment_id=deployment_id)
    query = select(Webhook).where(
        Webhook.deployment_id.is_(None)
        if deployment_id is None
        else Webhook.deployment_id == deployment_id
    )
    return list(session.scalars(query.order_by(Webhook.created_at)))


def delete_webhook(
    session: Session, *, principal: Principal, deployment_id: str | None, webhook_id: str
) -> None:
    session.delete(
        get_webhook(
            session, principal=principal, deployment_id=deployment_id, webhook_id=webhook_id
        )
    )
    session.flush()


def get_webhook(
    session: Session, *, principal: Principal, deployment_id: str | None, webhook_id: str
) -> Webhook:
    _check_access(session, principal=principal, deployment_id=deployment_id)
    webhook = session.get(Webhook, webhook_id)
    if webhook is None or webhook.deployment_id != deployment_id:
        raise NotFound("no such webhook here", webhook_id=webhook_id)
    return webhook


def list_deliveries(
    session: Session, *, principal: Principal, deployment_id: str | None, webhook_id: str
) -> list[WebhookDelivery]:
    """The webhook's deliveries, newest first (the last 100)."""
    get_webhook(session, principal=principal, deployment_id=deployment_id, webhook_id=webhook_id)
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.event_id.desc())
        .limit(MAX_DELIVERIES_LISTED)
    )
    return list(session.scalars(query))


def _check_access(session: Session, *, principal: Principal, deployment_id: str | None) -> None:
    if deployment_id is None:
        if principal.system_role != roles.SystemRole.SYSTEM_ADMIN:
            raise PermissionDenied("installation-wide webhooks are for System Admins")
        return
    get_deployment(
        session, principal=principal, deployment_id=deployment_id, permission=roles.CONFIG_UPDATE
    )


def webhook_out(webhook: Webhook) -> WebhookOut:
    """The subscription without its secret (never returned)."""
    return WebhookOut(
        id=webhook.id,
        deployment_id=webhook.deployment_id,
        url=webhook.url,
        events=list(webhook.events),
        payload_format=webhook.payload_format,
        created_by=webhook.created_by,
        created_at=webhook.created_at,
    )


def delivery_out(delivery: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.id,
        webhook_id=delivery.webhook_id,
        event_id=str(delivery.event_id),
        event=delivery.event_name,
        status=delivery.status,
        attempts=delivery.attempts,
        response_status=delivery.response_status,
        last_error=delivery.last_error,
        next_attempt_at=delivery.next_attempt_at if delivery.status == "pending" else None,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
    )
