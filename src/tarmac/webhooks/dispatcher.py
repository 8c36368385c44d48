"""Deliver webhooks from the event outbox, in the background, with retries and backoff.

Two steps, each a short transaction, so nothing is lost across restarts and no database
lock is held during HTTP calls:

1. fan out: events not yet seen by webhooks become one pending delivery per matching
   webhook (and the event is marked), atomically;
2. deliver: due deliveries are claimed (their next attempt pushed past a lease), POSTed,
   then recorded delivered, or rescheduled with backoff, or failed after the last try.

A process that dies mid-POST leaves the claim to expire, so the delivery is retried:
at least once, and receivers drop repeats by the ``X-Tarmac-Event-Id`` header.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tarmac.db.base import utcnow
from tarmac.deployments.secret_values import SecretBox
from tarmac.errors import WebhookUrlRefused
from tarmac.events.models import EventRecord
from tarmac.settings import Settings
from tarmac.webhooks.models import Webhook, WebhookDelivery
from tarmac.webhooks.payloads import (
    delivery_headers,
    event_deployment_id,
    webhook_body,
    webhook_event_name,
)
from tarmac.webhooks.url_policy import check_webhook_url

log = logging.getLogger(__name__)

CLAIM_SECONDS = 120.0  # longer than a POST may take (timeout below), so claims don't overlap
REQUEST_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float
    cap_seconds: float
    max_attempts: int
    allow_loopback: bool

    def delay_after(self, attempts: int) -> float:
        return float(min(self.cap_seconds, self.base_seconds * 2.0 ** min(attempts - 1, 30)))


def _writer(engine: Engine) -> Session:
    return Session(engine.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False)


def fan_out(engine: Engine, *, batch: int = 200) -> int:
    """Turn unseen events into pending deliveries; returns how many deliveries were made."""
    made = 0
    with _writer(engine) as session:
        query = (
            select(EventRecord)
            .where(EventRecord.webhooks_at.is_(None))
            .order_by(EventRecord.id)
            .limit(batch)
        )
        # No row locks on events: the event log writer claims them with SKIP LOCKED and
        # must not pass over them. Two processes fanning out the same event collide on
        # the (webhook_id, event_id) unique key instead; the loser rolls back.
        events = list(session.scalars(query))
        if not events:
            return 0
        webhooks = list(session.scalars(select(Webhook)))
        now = utcnow()
        for event in events:
            event.webhooks_at = now
            name = webhook_event_name(event.document)
            if name is None:
                continue
            deployment_id = event_deployment_id(event.document)
            for webhook in webhooks:
                if (
                    name in webhook.events
                    and webhook.deployment_id in (None, deployment_id)
                    and webhook.created_at <= event.created_at
                ):
                    session.add(
                        WebhookDelivery(
                            webhook_id=webhook.id,
                            event_id=event.id,
                            event_name=name,
                            status="pending",
                            attempts=0,
                            next_attempt_at=now,
                        )
                    )
                    made += 1
        try:
            session.commit()
        except IntegrityError:  # another process fanned these out first
            session.rollback()
            return 0
    return made


def claim_due(engine: Engine, *, limit: int = 20) -> list[str]:
    """Claim due deliveries for this process: their next attempt moves past the lease."""
    with _writer(engine) as session:
        now = utcnow()
        query = (
            select(WebhookDelivery)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        )
        if engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        due = list(session.scalars(query))
        for delivery in due:
            delivery.attempts += 1
            delivery.next_attempt_at = now + timedelta(seconds=CLAIM_SECONDS)
        session.commit()
        return [d.id for d in due]


def deliver(
    engine: Engine,
    *,
    delivery_id: str,
    client: httpx.Client,
    secrets: SecretBox,
    policy: RetryPolicy,
) -> bool:
    """POST one claimed delivery and record the outcome; True if the receiver took it."""
    with Session(engine) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        webhook = session.get(Webhook, delivery.webhook_id) if delivery else None
        event = session.get(EventRecord, delivery.event_id) if delivery else None
        if delivery is None or webhook is None or event is None:
            return False
        url, attempts = webhook.url, delivery.attempts
        body = webhook_body(
            event_id=event.id,
            name=delivery.event_name,
            document=event.document,
            payload_format=webhook.payload_format,
        )
        secret_token, name, event_id = webhook.secret_encrypted, delivery.event_name, event.id
    status_code: int | None = None
    error: str | None = None
    try:
        headers = delivery_headers(
            secret=secrets.decrypt(secret_token),
            body=body,
            name=name,
            event_id=event_id,
            delivery_id=delivery_id,
        )
        check_webhook_url(url, allow_loopback=policy.allow_loopback)  # DNS may have changed
        response = client.post(url, content=body, headers=headers)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}: {response.text[:200]}"
    except WebhookUrlRefused as exc:
        error = exc.message
    except ValueError as exc:  # the secret no longer decrypts (TARMAC_SECRET_KEY changed)
        error = str(exc)
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    _record(
        engine,
        delivery_id=delivery_id,
        status_code=status_code,
        error=error,
        attempts=attempts,
        policy=policy,
    )
    return error is None


def _record(
    engine: Engine,
    *,
    delivery_id: str,
    status_code: int | None,
    error: str | None,
    attempts: int,
    policy: RetryPolicy,
) -> None:
    with _writer(engine) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None:  # the webhook was deleted meanwhile
            return
        now = utcnow()
        delivery.response_status = status_code
        delivery.last_error = error
        if error is None:
            delivery.status = "delivered"
            delivery.delivered_at = now
        elif attempts >= policy.max_attempts:
            delivery.status = "failed"
        else:
            delivery.next_attempt_at = now + timedelta(seconds=policy.delay_after(attempts))
        session.commit()


def dispatch_round(
    engine: Engine, *, client: httpx.Client, secrets: SecretBox, policy: RetryPolicy
) -> int:
    """Fan out new events, then deliver what is due; returns deliveries the receivers took.

    Reads first, so an idle round never takes SQLite's write lock from deploys.
    """
    if _exists(engine, select(EventRecord.id).where(EventRecord.webhooks_at.is_(None))):
        fan_out(engine)
    due = select(WebhookDelivery.id).where(
        WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= utcnow()
    )
    if not _exists(engine, due):
        return 0
    return sum(
        deliver(engine, delivery_id=i, client=client, secrets=secrets, policy=policy)
        for i in claim_due(engine)
    )


def _exists(engine: Engine, query: Select[Any]) -> bool:
    with Session(engine) as session:
        return session.execute(query.limit(1)).first() is not None


class WebhookDispatcher:
    """A background thread running ``dispatch_round`` every poll interval."""

    def __init__(self, *, engine: Engine, secrets: SecretBox, settings: Settings) -> None:
        self.engine = engine
        self.secrets = secrets
        self.poll_seconds = settings.webhook_poll_seconds
        self.policy = RetryPolicy(
            base_seconds=settings.webhook_retry_base_seconds,
            cap_seconds=settings.webhook_retry_cap_seconds,
            max_attempts=settings.webhook_max_attempts,
            allow_loopback=settings.webhook_allow_loopback,
        )
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tarmac-webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, *, timeout: float = 15.0) -> None:
        self._stopping.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        # No redirects: a redirect could lead to an address the URL policy refuses.
        with httpx.Client(timeout=REQUEST_TIMEOUT, follow_redirects=False) as client:
            while not self._stopping.is_set():
                try:
                    dispatch_round(
                        self.engine, client=client, secrets=self.secrets, policy=self.policy
                    )
                except Exception:  # e.g. the database is away; the thread must outlive it
                    log.exception("webhook dispatch round failed")
                self._stopping.wait(self.poll_seconds)


@contextmanager
def dispatching_webhooks(
    *, settings: Settings, engine: Engine, secrets: SecretBox
) -> Iterator[WebhookDispatcher]:
    """Run the webhook dispatcher while the block runs."""
    dispatcher = WebhookDispatcher(engine=engine, secrets=secrets, settings=settings)
    dispatcher.start()
    try:
        yield dispatcher
    finally:
        dispatcher.stop()
