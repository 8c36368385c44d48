"""The safe-operations refusals of a plain deploy: a pure function, like the rollback policy.

A rollback never passes through here: it is the fix, so neither a hold nor a freeze
window stops it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tarmac.rollbacks.policy import Refusal
from tarmac.safe_ops.freeze import FreezeWindow, active_window
from tarmac.safe_ops.schemas import MAX_REASON_LENGTH


@dataclass(frozen=True)
class HoldFacts:
    """The hold a rollback left on a Deployment.

    ``deploy_is_rollback`` is false when the hold names the deploy a failed rollout was
    restored to, which is not a rollback of its own.
    """

    deploy_id: str
    deploy_seq: int | None
    set_by: str | None
    reason: str | None
    set_at: datetime
    deploy_is_rollback: bool = True


@dataclass(frozen=True)
class GateRequest:
    """What a deploy asks to waive: the hold, and (admins only) a freeze window."""

    clear_hold: bool = False
    freeze_override_reason: str | None = None


def plain_deploy_refusals(
    *,
    deployment_name: str,
    hold: HoldFacts | None,
    hold_enabled: bool,
    windows: Sequence[FreezeWindow],
    request: GateRequest,
    is_admin: bool,
    now: datetime,
) -> list[Refusal]:
    """Every reason a plain deploy may not go ahead now, most important first."""
    refusals: list[Refusal] = []
    if hold is not None and hold_enabled and not request.clear_hold:
        number = f"#{hold.deploy_seq}" if hold.deploy_seq is not None else hold.deploy_id
        kind = "rollback" if hold.deploy_is_rollback else "deploy"
        refusals.append(
            Refusal(
                "rollback_hold",
                f"Deployment {deployment_name} is held since {kind} {number} by"
                f" {hold.set_by or 'unknown'}: {hold.reason or 'no reason given'}. Clear the"
                " hold (tarmac hold clear) or deploy with clear_hold=true.",
                {
                    "hold": {
                        "deploy_id": hold.deploy_id,
                        "set_by": hold.set_by,
                        "reason": hold.reason,
                        "set_at": hold.set_at.isoformat(),
                    }
                },
            )
        )
    override = (request.freeze_override_reason or "").strip()
    if request.freeze_override_reason is not None and not override:
        refusals.append(
            Refusal("invalid_request", "Say why you override the freeze.", {"field": "reason"})
        )
    if len(override) > MAX_REASON_LENGTH:
        refusals.append(
            Refusal(
                "invalid_request",
                f"The freeze override reason is longer than {MAX_REASON_LENGTH} characters.",
                {"field": "freeze_override_reason"},
            )
        )
    window = active_window(windows, now)
    if window is not None:
        if not override:
            refusals.append(
                Refusal(
                    "deploy_frozen",
                    f"Deployment {deployment_name} is frozen until"
                    f" {window.occurrence_end(now).isoformat()}: {window.reason}. Rollbacks"
                    " are allowed; a System or Deployment Admin may override one deploy"
                    " with a reason.",
                    {"freeze_window": window.to_json()},
                )
            )
        elif not is_admin:
            refusals.append(
                Refusal(
                    "permission_denied",
                    "Only a System Admin or Deployment Admin may override a freeze window.",
                    {"freeze_window": window.to_json()},
                )
            )
    return refusals
