"""Where a plain deploy meets the hold and the freeze windows: check, then record what it waived."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from tarmac.access import roles
from tarmac.access.principal import Principal
from tarmac.deployments.models import Deployment
from tarmac.deploys.models import Deploy
from tarmac.errors import ERROR_BY_CODE
from tarmac.events.ecs import ecs_event
from tarmac.events.service import record_event
from tarmac.rollbacks.policy import Refusal
from tarmac.safe_ops.freeze import active_window, stored_windows
from tarmac.safe_ops.gates import GateRequest, HoldFacts, plain_deploy_refusals
from tarmac.safe_ops.hold import release_hold


def check_plain_deploy(
    deployment: Deployment,
    *,
    hold: HoldFacts | None,
    principal: Principal,
    request: GateRequest,
    now: datetime,
) -> None:
    """Raise the first refusal the hold or a freeze window gives this deploy."""
    refusals = plain_deploy_refusals(
        deployment_name=deployment.name,
        hold=hold,
        hold_enabled=deployment.rollback_hold_enabled,
        windows=stored_windows(deployment.freeze_windows),
        request=request,
        is_admin=principal.has(roles.MEMBERS_UPDATE, deployment_id=deployment.id),
        now=now,
    )
    raise_refusals(refusals)


def raise_refusals(refusals: list[Refusal]) -> None:
    if not refusals:
        return
    first = refusals[0]
    details = dict(first.details)
    details["refusals"] = [{"code": r.code, "message": r.message} for r in refusals]
    raise ERROR_BY_CODE[first.code](first.message, **details)


def waived_event_fields(
    deployment: Deployment, *, request: GateRequest, now: datetime
) -> dict[str, object]:
    """What this deploy waives (for its event), decided before it is recorded."""
    fields: dict[str, object] = {}
    if request.clear_hold and deployment.hold_deploy_id is not None:
        fields["clear_hold"] = {"deploy_id": deployment.hold_deploy_id}
    window = active_window(stored_windows(deployment.freeze_windows), now)
    if window is not None and request.freeze_override_reason:
        fields["freeze_override"] = {
            "reason": request.freeze_override_reason.strip(),
            "window": window.to_json(),
        }
    return fields


def record_waivers(
    session: Session,
    *,
    deployment: Deployment,
    deploy: Deploy,
    actor: str | None,
    waived: dict[str, object],
) -> None:
    """After the deploy went live: clear the hold it asked to clear, note its freeze override."""
    if "freeze_override" in waived:
        override = waived["freeze_override"]
        assert isinstance(override, dict)
        deploy.freeze_override_reason = str(override["reason"])
        record_event(
            session,
            ecs_event(
                action="deploy.freeze_override",
                outcome="success",
                actor=actor,
                deployment_id=deployment.id,
                message=deploy.freeze_override_reason,
                extra={"deploy": {"id": deploy.id, "seq": deploy.seq}, "freeze": override},
            ),
        )
    if "clear_hold" in waived:
        deploy.cleared_hold = release_hold(
            session,
            deployment=deployment,
            actor=actor,
            reason=f"cleared by deploy #{deploy.seq} (clear_hold=true)",
            via_deploy=deploy,
        )
    session.flush()
