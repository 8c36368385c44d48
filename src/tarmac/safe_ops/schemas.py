"""Request and response shapes of the safe-operations API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from tarmac.deploys.models import Deploy

MAX_REASON_LENGTH = 500

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]


class ReasonBody(BaseModel):
    """Why: clearing a hold, marking a deploy bad or unmarking it."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = None


class HoldOut(BaseModel):
    deploy_id: str
    set_by: str | None
    reason: str | None
    set_at: datetime


class MarkedBadOut(BaseModel):
    reason: str
    by: str | None
    at: datetime


class FreezeWindowOut(BaseModel):
    start: datetime
    end: datetime
    reason: str
    repeat: str | None = None


def marked_bad_out(deploy: Deploy) -> MarkedBadOut | None:
    if deploy.marked_bad_reason is None or deploy.marked_bad_at is None:
        return None
    return MarkedBadOut(
        reason=deploy.marked_bad_reason, by=deploy.marked_bad_by, at=deploy.marked_bad_at
    )
