"""Metadata snapshots: recorded by the runtime side, listed, restored on request, pruned."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tarmac.access import roles
from tarmac.access.principal import Principal
from tarmac.db.base import utcnow
from tarmac.deployments.service import get_deployment
from tarmac.deploys.models import Deploy
from tarmac.errors import InvalidRequest, NotFound
from tarmac.events.ecs import ecs_event
from tarmac.events.service import record_event
from tarmac.rollouts.models import MetadataSnapshot, RuntimeStatus
from tarmac.rollouts.schemas import SnapshotIn, SnapshotOut

RUNTIME_RUN = roles.RUNTIME_RUN


def add_snapshot(
    session: Session, *, principal: Principal, deployment_id: str, snapshot: SnapshotIn
) -> SnapshotOut:
    """Record a snapshot the runtime side took (before a change of Airflow version)."""
    get_deployment(
        session, principal=principal, deployment_id=deployment_id, permission=RUNTIME_RUN
    )
    if snapshot.deploy_id is not None:
        deploy = session.get(Deploy, snapshot.deploy_id)
        if deploy is None or deploy.deployment_id != deployment_id:
            raise NotFound(
                f"no deploy {snapshot.deploy_id!r} in this deployment", deploy_id=snapshot.deploy_id
            )
    row = MetadataSnapshot(
        deployment_id=deployment_id,
        deploy_id=snapshot.deploy_id,
        airflow_version=snapshot.airflow_version,
        size_bytes=snapshot.size_bytes,
        location=snapshot.location,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    record_event(
        session,
        ecs_event(
            action="runtime.snapshot",
            outcome="success",
            actor=principal.username,
            deployment_id=deployment_id,
            message=f"metadata snapshot of Airflow {snapshot.airflow_version} taken",
            extra={"snapshot": {"id": row.id, "size_bytes": row.size_bytes}},
        ),
    )
    return snapshot_out(row)


def list_snapshots(
    session: Session, *, principal: Principal, deployment_id: str
) -> list[SnapshotOut]:
    get_deployment(
        session,
        principal=principal,
        deployment_id=deployment_id,
        permission=roles.DEPLOY_REVISIONS_GET,
    )
    rows = session.scalars(
        select(MetadataSnapshot)
        .where(MetadataSnapshot.deployment_id == deployment_id)
        .order_by(MetadataSnapshot.created_at.desc())
    )
    return [snapshot_out(row) for row in rows]


def request_restore(
    session: Session, *, principal: Principal, deployment_id: str, snapshot_id: str
) -> SnapshotOut:
    """Ask the runtime side to restore a snapshot (System or Deployment Admin only)."""
    get_deployment(
        session, principal=principal, deployment_id=deployment_id, permission=RUNTIME_RUN
    )
    snapshot = session.get(MetadataSnapshot, snapshot_id)
    if snapshot is None or snapshot.deployment_id != deployment_id:
        raise NotFound(f"no snapshot {snapshot_id!r} in this deployment", snapshot_id=snapshot_id)
    status = session.get(RuntimeStatus, deployment_id)
    if status is None or status.reported_at is None:
        raise InvalidRequest(
            "no runtime side has reported for this Deployment: start `tarmac runtime run` first",
            field="snapshot_id",
        )
    status.restore_snapshot_id = snapshot.id
    session.flush()
    record_event(
        session,
        ecs_event(
            action="runtime.restore_requested",
            outcome="success",
            actor=principal.username,
            deployment_id=deployment_id,
            message=f"restore of snapshot {snapshot.id} requested",
            extra={"snapshot": {"id": snapshot.id}},
        ),
    )
    return snapshot_out(snapshot)


def prune_orphan_snapshots(session: Session) -> int:
    """Cleanup: forget snapshots whose deploy was deleted, keeping each Deployment's newest."""
    newest = {
        deployment_id: snapshot_id
        for deployment_id, snapshot_id, _at in session.execute(
            select(
                MetadataSnapshot.deployment_id, MetadataSnapshot.id, MetadataSnapshot.created_at
            ).order_by(MetadataSnapshot.created_at)
        )
    }
    orphans = session.scalars(
        select(MetadataSnapshot).where(
            MetadataSnapshot.deploy_id.is_(None), MetadataSnapshot.id.not_in(newest.values())
        )
    ).all()
    for snapshot in orphans:
        session.delete(snapshot)
    session.flush()
    return len(orphans)


def kept_snapshot_locations(session: Session, deployment_id: str) -> list[str]:
    """Where the snapshots the server still lists are: the runtime side deletes the rest."""
    return list(
        session.scalars(
            select(MetadataSnapshot.location).where(MetadataSnapshot.deployment_id == deployment_id)
        )
    )


def finish_restore(
    session: Session, status: RuntimeStatus, snapshot_id: str, principal: Principal
) -> None:
    snapshot = session.get(MetadataSnapshot, snapshot_id)
    status.restore_snapshot_id = None
    if snapshot is not None:
        snapshot.restored_at = utcnow()
        record_event(
            session,
            ecs_event(
                action="runtime.restored",
                outcome="success",
                actor=principal.username,
                deployment_id=status.deployment_id,
                message=f"snapshot {snapshot.id} restored",
                extra={"snapshot": {"id": snapshot.id}},
            ),
        )


def snapshot_out(row: MetadataSnapshot) -> SnapshotOut:
    return SnapshotOut(
        id=row.id,
        deploy_id=row.deploy_id,
        airflow_version=row.airflow_version,
        size_bytes=row.size_bytes,
        created_at=row.created_at,
        restored_at=row.restored_at,
    )
