"""Request and response shapes of the webhooks API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class WebhookIn(BaseModel):
    url: str = Field(max_length=2048)
    events: list[str] = Field(min_length=1, max_length=20)
    secret: str = Field(min_length=16, max_length=256)
    payload_format: Literal["json", "slack"] = "json"


class WebhookOut(BaseModel):
    id: str
    deployment_id: str | None
    url: str
    events: list[str]
    payload_format: str
    created_by: str | None
    created_at: datetime


class WebhookList(BaseModel):
    items: list[WebhookOut]


class DeliveryOut(BaseModel):
    id: str
    webhook_id: str
    event_id: str
    event: str
    status: str
    attempts: int
    response_status: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None


class DeliveryList(BaseModel):
    items: list[DeliveryOut]
