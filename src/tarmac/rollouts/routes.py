"""HTTP routes of desired vs actual: runtime status, the runtime side's reports, snapshots."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tarmac.api.dependencies import (
    CurrentPrincipal,
    InstallationDep,
    ReadSession,
    WriteSession,
    commit,
)
from tarmac.rollouts import service, snapshots
from tarmac.rollouts.schemas import (
    DesiredRuntime,
    RestoreAccepted,
    RuntimeReport,
    RuntimeStatusOut,
    SnapshotIn,
    SnapshotList,
    SnapshotOut,
)
from tarmac.safe_ops.auto_rollback import auto_rollback_after_report
from tarmac.safe_ops.runtime_signals import failure_signal

router = APIRouter(prefix="/api/v1/deployments/{deployment_id}", tags=["runtime"])


@router.get("/runtime", response_model=RuntimeStatusOut)
def get_runtime(
    deployment_id: str, principal: CurrentPrincipal, session: ReadSession
) -> RuntimeStatusOut:
    """What really runs: the deploy the runtime side reached, its Airflow, health, rollout."""
    return service.runtime_status(session, principal=principal, deployment_id=deployment_id)


@router.put("/runtime", response_model=RuntimeStatusOut)
def report_runtime(
    deployment_id: str,
    report: RuntimeReport,
    principal: CurrentPrincipal,
    session: WriteSession,
    installation: InstallationDep,
) -> RuntimeStatusOut:
    """The runtime side reports its state (``tarmac runtime run`` calls this)."""
    out = service.record_report(
        session,
        principal=principal,
        deployment_id=deployment_id,
        report=report,
        backend=installation.runtime_backend,
        lock_timeout_seconds=installation.settings.deploy_lock_timeout_seconds,
    )
    commit(session, installation)
    signal = failure_signal(report, unhealthy_since=out.unhealthy_since, now=out.reported_at)
    if signal is not None:
        # Opt-in per Deployment: mark the failed deploy bad, hold, roll back once.
        auto_rollback_after_report(
            installation,
            deployment_id=deployment_id,
            deploy_id=signal.deploy_id,
            reason=signal.reason,
            import_errors=signal.import_errors,
        )
    return out


@router.get("/runtime/desired", response_model=DesiredRuntime)
def get_desired_runtime(
    deployment_id: str,
    principal: CurrentPrincipal,
    session: ReadSession,
    installation: InstallationDep,
) -> JSONResponse:
    """What the runtime side must run: the live deploy and env vars (secrets included)."""
    desired = service.desired_runtime(
        session, principal=principal, deployment_id=deployment_id, secrets=installation.secrets
    )
    return JSONResponse(desired.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@router.get("/snapshots", response_model=SnapshotList)
def list_snapshots(
    deployment_id: str, principal: CurrentPrincipal, session: ReadSession
) -> SnapshotList:
    """Metadata database snapshots taken before changes of Airflow version, newest first."""
    return SnapshotList(
        items=snapshots.list_snapshots(session, principal=principal, deployment_id=deployment_id)
    )


@router.post("/snapshots", response_model=SnapshotOut, status_code=201)
def add_snapshot(
    deployment_id: str,
    snapshot: SnapshotIn,
    principal: CurrentPrincipal,
    session: WriteSession,
    installation: InstallationDep,
) -> SnapshotOut:
    """The runtime side records a snapshot it took."""
    out = snapshots.add_snapshot(
        session, principal=principal, deployment_id=deployment_id, snapshot=snapshot
    )
    commit(session, installation)
    return out


@router.post("/snapshots/{snapshot_id}/restore", response_model=RestoreAccepted, status_code=202)
def restore_snapshot(
    deployment_id: str,
    snapshot_id: str,
    principal: CurrentPrincipal,
    session: WriteSession,
    installation: InstallationDep,
) -> RestoreAccepted:
    """Ask the runtime side to restore a snapshot; it stops Airflow, restores, restarts."""
    snapshot = snapshots.request_restore(
        session, principal=principal, deployment_id=deployment_id, snapshot_id=snapshot_id
    )
    commit(session, installation)
    return RestoreAccepted(
        snapshot_id=snapshot.id,
        message="the runtime side restores it at its next poll; watch GET …/runtime",
    )
