"""Load deploy facts from the database and compute DORA figures, per Deployment or all."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from tarmac.access import roles
from tarmac.access.principal import Principal
from tarmac.deployments.models import Deployment
from tarmac.deployments.service import get_deployment
from tarmac.deploys.models import Deploy, DeployGit
from tarmac.deploys.schemas import DeployStatus
from tarmac.errors import InvalidRequest
from tarmac.insight.dora import DeployFacts, DoraStats, dora_stats

MAX_DAYS = 365
DEPLOYED = DeployStatus.DEPLOYED.value
FAILED = DeployStatus.FAILED.value


def deployment_stats(
    session: Session, *, principal: Principal, deployment_id: str, days: int, now: datetime
) -> DoraStats:
    get_deployment(
        session,
        principal=principal,
        deployment_id=deployment_id,
        permission=roles.DEPLOY_REVISIONS_GET,
    )
    return _stats(session, deployment_ids=[deployment_id], days=_check_days(days), now=now)


def installation_stats(
    session: Session, *, principal: Principal, days: int, now: datetime
) -> DoraStats:
    """Every Deployment the caller may read the history of."""
    ids = [
        d
        for d in session.scalars(select(Deployment.id))
        if principal.has(roles.DEPLOY_REVISIONS_GET, deployment_id=d)
    ]
    return _stats(session, deployment_ids=ids, days=_check_days(days), now=now)


def _check_days(days: int) -> int:
    if not 1 <= days <= MAX_DAYS:
        raise InvalidRequest(f"days must be between 1 and {MAX_DAYS}", field="days")
    return days


def _stats(session: Session, *, deployment_ids: list[str], days: int, now: datetime) -> DoraStats:
    facts, failed = load_facts(
        session, deployment_ids=deployment_ids, since=now - timedelta(days=days)
    )
    return dora_stats(facts, until=now, days=days, failed_at=[at for _, at in failed])


def stats_by_deployment(session: Session, *, days: int, now: datetime) -> dict[str, DoraStats]:
    """Every Deployment's figures, from one load of the facts (for Prometheus)."""
    ids = list(session.scalars(select(Deployment.id)))
    facts, failed = load_facts(session, deployment_ids=ids, since=now - timedelta(days=days))
    return {
        deployment_id: dora_stats(
            [f for f in facts if f.deployment_id == deployment_id],
            until=now,
            days=days,
            failed_at=[at for d, at in failed if d == deployment_id],
        )
        for deployment_id in ids
    }


def load_facts(
    session: Session, *, deployment_ids: list[str], since: datetime
) -> tuple[list[DeployFacts], list[tuple[str, datetime]]]:
    """Deploys finished since ``since``, plus each Deployment's last live one before it;
    and the FAILED deploys as (deployment id, when)."""
    columns = (
        Deploy.deployment_id,
        Deploy.seq,
        Deploy.status,
        Deploy.finished_at,
        Deploy.created_at,
        Deploy.rollback_from_id,
        DeployGit.committed_at,
        Deploy.marked_bad_at,
    )
    facts: list[DeployFacts] = []
    failed_at: list[tuple[str, datetime]] = []
    for chunk in _chunks(deployment_ids, 500):
        in_chunk = Deploy.deployment_id.in_(chunk)
        # The last deploy live before the period, per Deployment: what an early rollback replaced.
        anchors = (
            select(Deploy.deployment_id, func.max(Deploy.seq).label("seq"))
            .where(
                in_chunk,
                Deploy.status == DeployStatus.DEPLOYED.value,
                Deploy.finished_at < since,
            )
            .group_by(Deploy.deployment_id)
            .subquery()
        )
        window = select(*columns).outerjoin(DeployGit, DeployGit.deploy_id == Deploy.id)
        rows = list(session.execute(window.where(in_chunk, Deploy.finished_at >= since)))
        rows += list(
            session.execute(
                window.join(
                    anchors,
                    and_(
                        anchors.c.deployment_id == Deploy.deployment_id, anchors.c.seq == Deploy.seq
                    ),
                )
            )
        )
        for row in rows:
            deployment_id, seq, status, finished_at, _, rollback_from_id, committed_at, bad_at = row
            if status == FAILED and finished_at is not None:
                failed_at.append((deployment_id, finished_at))
            facts.append(
                DeployFacts(
                    deployment_id,
                    seq,
                    finished_at if status == DEPLOYED else None,
                    rollback_from_id is not None,
                    committed_at,
                    bad_at is not None,  # marked bad (safe_ops) counts as a failed change
                )
            )
    return facts, failed_at


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[n : n + size] for n in range(0, len(items), size)]
