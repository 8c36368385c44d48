"""What the Deploy History page shows, built from the deploys service and the rollback policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from tarmac.access import roles
from tarmac.access.principal import Principal
from tarmac.deployments.models import Deployment
from tarmac.deploys.models import Deploy
from tarmac.deploys.service import get_deploy, list_deploys
from tarmac.errors import NotFound
from tarmac.installation.flags import InstallationFlags
from tarmac.rollbacks.policy import Refusal
from tarmac.rollbacks.service import deploy_facts, deployment_facts
from tarmac.rollbacks.targets import HistoryTargets, check_targets
from tarmac.runtimes.catalog import RuntimeCatalog, RuntimeVersion
from tarmac.safe_ops.gates import HoldFacts
from tarmac.safe_ops.hold import hold_facts
from tarmac.safe_ops.last_good import find_last_good

TOGGLE_CODES = frozenset({"rollback_not_enabled"})
"""Refusals the user can fix in Settings; the Deploy button stays so the dialog says how."""


@dataclass(frozen=True)
class RowReason:
    """Why a row cannot be a target: a short label, and the policy's full message."""

    label: str
    message: str


@dataclass(frozen=True)
class HistoryRow:
    deploy: Deploy
    runtime: RuntimeVersion | None
    is_live: bool
    rollback_of_seq: int | None
    can_deploy: bool
    reasons: tuple[RowReason, ...]


@dataclass(frozen=True)
class HistoryPage:
    deployment: Deployment
    rows: list[HistoryRow]
    next_cursor: str | None
    notices: tuple[Refusal, ...]
    can_configure: bool
    can_pin: bool
    hold: HoldFacts | None = None
    can_deploy: bool = False  # may clear the hold and mark deploys bad
    last_good: Deploy | None = None


def build_history_page(
    db: Session,
    *,
    principal: Principal,
    deployment_id: str,
    cursor: str | None,
    flags: InstallationFlags,
    catalog: RuntimeCatalog,
    now: datetime,
) -> HistoryPage:
    """One page of the history, newest first, each row checked as a rollback target."""
    deploys, next_cursor, deployment = list_deploys(
        db, principal=principal, deployment_id=deployment_id, cursor=cursor
    )
    on_page = {d.id: d for d in deploys}
    live = _deploy(db, principal, deployment, on_page, deployment.current_deploy_id)
    targets = check_targets(
        deployment=deployment_facts(deployment),
        targets=[deploy_facts(d) for d in deploys],
        live=deploy_facts(live) if live else None,
        flags=flags,
        permissions=principal.permissions_on(deployment.id),
        catalog=catalog,
        now=now,
    )
    rows = [
        _row(db, principal, deployment, on_page, deploy, targets=targets, catalog=catalog)
        for deploy in deploys
    ]
    return HistoryPage(
        deployment=deployment,
        rows=rows,
        next_cursor=next_cursor,
        notices=targets.deployment_refusals,
        can_configure=principal.has(roles.CONFIG_UPDATE, deployment_id=deployment.id),
        can_pin=principal.has(roles.DEPLOYS_PIN, deployment_id=deployment.id),
        hold=hold_facts(db, deployment),
        can_deploy=principal.has(roles.IMAGES_PUSH, deployment_id=deployment.id)
        or principal.has(roles.DAGS_PUSH, deployment_id=deployment.id),
        # The shortcut shows only where a rollback could go ahead (or the dialog says how).
        last_good=find_last_good(db, deployment=deployment)
        if targets.only_blocked_by(TOGGLE_CODES)
        else None,
    )


def _row(
    db: Session,
    principal: Principal,
    deployment: Deployment,
    on_page: dict[str, Deploy],
    deploy: Deploy,
    *,
    targets: HistoryTargets,
    catalog: RuntimeCatalog,
) -> HistoryRow:
    check = targets.rows[deploy.id]
    is_live = deploy.id == deployment.current_deploy_id
    source = _deploy(db, principal, deployment, on_page, deploy.rollback_from_id)
    return HistoryRow(
        deploy=deploy,
        runtime=catalog.find(deploy.runtime_version),
        is_live=is_live,
        rollback_of_seq=source.seq if source else None,
        can_deploy=check.row_allows and targets.only_blocked_by(TOGGLE_CODES),
        reasons=tuple(_reason(r, is_live=is_live) for r in check.refusals),
    )


def _reason(refusal: Refusal, *, is_live: bool) -> RowReason:
    if refusal.code == "deploy_too_old":
        label = f"Older than {refusal.details.get('older_than_days')} days"
    elif refusal.code == "runtime_unsupported":
        label = "Runtime below 5.0.0"
    elif refusal.code == "deploy_marked_bad":
        label = "Marked bad"
    elif refusal.code == "already_current":
        label = "Live now" if is_live else "Same code as live"
    else:
        label = refusal.message
    return RowReason(label=label, message=refusal.message)


def _deploy(
    db: Session,
    principal: Principal,
    deployment: Deployment,
    on_page: dict[str, Deploy],
    deploy_id: str | None,
) -> Deploy | None:
    """A deploy by id, from the page when it is there; None when gone (cleaned up)."""
    if deploy_id is None:
        return None
    if deploy_id in on_page:
        return on_page[deploy_id]
    try:
        found, _ = get_deploy(
            db, principal=principal, deployment_id=deployment.id, deploy_id=deploy_id
        )
    except NotFound:
        return None
    on_page[deploy_id] = found  # later rows of the page may point at it too
    return found
