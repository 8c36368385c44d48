"""``last-good``: the newest deploy before the live one that is known (or not known not) to work.

Good = DEPLOYED, not marked bad, not the live deploy nor one with the live code, and, once
the runtime side reports health for this Deployment, one whose runtime reached healthy.
A deploy from before the first health report has ``reached_healthy_at`` null: unknown,
which does not exclude it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tarmac.deployments.models import Deployment
from tarmac.deploys.models import Deploy
from tarmac.deploys.schemas import DeployStatus

LAST_GOOD = "last-good"
_PAGE = 200


@dataclass(frozen=True)
class Candidate:
    id: str
    seq: int
    status: str
    marked_bad: bool
    reached_healthy_at: datetime | None
    code_state: tuple[object, ...]


def pick_last_good(
    history: Sequence[Candidate], *, live: Candidate | None, reporting_from: int | None
) -> Candidate | None:
    """Pure: the newest good deploy of ``history`` (any order) before ``live``.

    ``reporting_from``: the first deploy seq the runtime side ever reported healthy.
    """
    for candidate in sorted(history, key=lambda c: c.seq, reverse=True):
        if live is not None and (
            candidate.seq >= live.seq or candidate.code_state == live.code_state
        ):
            continue
        if candidate.status != DeployStatus.DEPLOYED.value or candidate.marked_bad:
            continue
        if (
            reporting_from is not None
            and candidate.seq >= reporting_from
            and candidate.reached_healthy_at is None
        ):
            continue  # the runtime side reported by then, and never saw this one healthy
        return candidate
    return None


def find_last_good(
    session: Session, *, deployment: Deployment, before: Deploy | None = None
) -> Deploy | None:
    """The last good deploy before ``before`` (default: the live deploy)."""
    if before is None and deployment.current_deploy_id:
        before = session.get(Deploy, deployment.current_deploy_id)
    reporting_from = session.scalar(
        select(func.min(Deploy.seq)).where(
            Deploy.deployment_id == deployment.id, Deploy.reached_healthy_at.is_not(None)
        )
    )
    query = select(Deploy).where(
        Deploy.deployment_id == deployment.id,
        Deploy.status == DeployStatus.DEPLOYED.value,
        Deploy.marked_bad_at.is_(None),
    )
    if before is not None:
        query = query.where(Deploy.seq < before.seq)
    query = query.order_by(Deploy.seq.desc()).limit(_PAGE)
    while True:
        rows = list(session.scalars(query))
        picked = pick_last_good(
            [candidate(d) for d in rows],
            live=candidate(before) if before else None,
            reporting_from=reporting_from,
        )
        if picked is not None or len(rows) < _PAGE:
            return next((d for d in rows if picked and d.id == picked.id), None)
        query = query.where(Deploy.seq < rows[-1].seq)


def candidate(deploy: Deploy) -> Candidate:
    return Candidate(
        id=deploy.id,
        seq=deploy.seq,
        status=deploy.status,
        marked_bad=deploy.marked_bad_at is not None,
        reached_healthy_at=deploy.reached_healthy_at,
        code_state=(
            deploy.image,
            deploy.runtime_version,
            deploy.bundle_sha256,
            deploy.dag_deploy_enabled,
        ),
    )


def record_reached_healthy(session: Session, *, deploy: Deploy, at: datetime) -> None:
    """For the runtime report: this deploy ran healthy while live (first time wins)."""
    if deploy.reached_healthy_at is None:
        deploy.reached_healthy_at = at
        session.flush()
