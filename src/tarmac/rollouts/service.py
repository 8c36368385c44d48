"""Desired vs actual: the runtime side's reports, failed rollouts, snapshots and restores.

The server keeps deciding what is live. The runtime side reports what it really runs;
when it reports that a rollout failed and it restored the previous deploy, the failed
deploy is recorded FAILED and the previous one is made live again, under the
Deployment's lock, so the record and the running Airflow agree.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from tarmac.access import roles
from tarmac.access.principal import Principal
from tarmac.db.base import utcnow
from tarmac.db.unit_of_work import collect
from tarmac.deployments.models import Deployment
from tarmac.deployments.secret_values import SecretBox, decrypted_env
from tarmac.deployments.service import get_deployment
from tarmac.deploys.locking import lock_deployment
from tarmac.deploys.models import Deploy
from tarmac.deploys.recording import deploy_fields, live_spec_of
from tarmac.deploys.schemas import DeployStatus
from tarmac.errors import NotFound
from tarmac.events.domain import LiveDeployRestored
from tarmac.events.ecs import ecs_event
from tarmac.events.service import record_event
from tarmac.rollouts.models import MetadataSnapshot, RuntimeStatus
from tarmac.rollouts.schemas import (
    DesiredRuntime,
    RolloutOut,
    RolloutState,
    RuntimeReport,
    RuntimeStatusOut,
)
from tarmac.rollouts.snapshots import finish_restore, kept_snapshot_locations, snapshot_out
from tarmac.runtime_backends.base import RuntimeBackend
from tarmac.safe_ops.last_good import record_reached_healthy

log = logging.getLogger(__name__)

RUNTIME_RUN = roles.RUNTIME_RUN


def runtime_status(
    session: Session, *, principal: Principal, deployment_id: str
) -> RuntimeStatusOut:
    """What the runtime side last reported (state ``unknown`` if it never did)."""
    deployment = get_deployment(
        session,
        principal=principal,
        deployment_id=deployment_id,
        permission=roles.DEPLOY_REVISIONS_GET,
    )
    status = session.get(RuntimeStatus, deployment_id)
    if status is None:
        return RuntimeStatusOut(
            reached_deploy_id=None,
            airflow_version=None,
            state=RolloutState.UNKNOWN,
            components=[],
            error=None,
            reported_at=None,
            recorded_deploy_id=deployment.current_deploy_id,
        )
    return _status_out(status, deployment)


def rollout_of(status: RuntimeStatus | None, deploy_id: str) -> RolloutOut | None:
    """The rollout of one deploy as last reported, if the runtime side worked on it."""
    if status is None:
        return None
    if status.rollout_deploy_id == deploy_id:
        return RolloutOut(state=RolloutState(status.state), error=status.error)
    if status.reached_deploy_id == deploy_id:
        state = RolloutState(status.state)
        return RolloutOut(state=state, error=status.error if state is RolloutState.FAILED else None)
    return None


def record_report(
    session: Session,
    *,
    principal: Principal,
    deployment_id: str,
    report: RuntimeReport,
    backend: RuntimeBackend,
    lock_timeout_seconds: float,
) -> RuntimeStatusOut:
    """Store a report; a failed rollout that restored the previous deploy makes it live again."""
    deployment = get_deployment(
        session, principal=principal, deployment_id=deployment_id, permission=RUNTIME_RUN
    )
    if report.state is RolloutState.FAILED:
        # A failed rollout may make the previous deploy live again: like a deploy, locked.
        deployment = lock_deployment(
            session, deployment_id=deployment_id, timeout_seconds=lock_timeout_seconds
        )
    for deploy_id in (
        report.reached_deploy_id,
        report.rollout_deploy_id,
        report.restored_deploy_id,
    ):
        if deploy_id is not None:
            _deploy_of(session, deployment_id, deploy_id)
    status = session.get(RuntimeStatus, deployment_id)
    if status is None:
        status = RuntimeStatus(deployment_id=deployment_id, components=[], metadata_facts={})
        session.add(status)
    previous_state = status.state
    status_reached_before = status.reached_deploy_id
    status.reached_deploy_id = report.reached_deploy_id
    status.rollout_deploy_id = report.rollout_deploy_id
    status.airflow_version = report.airflow_version
    status.state = report.state.value
    status.components = [c.model_dump() for c in report.components]
    status.error = report.error
    status.message = report.message
    if report.metadata_facts:
        status.metadata_facts = report.metadata_facts
    if report.import_errors is not None:
        status.import_errors = [e.model_dump() for e in report.import_errors]
    elif report.reached_deploy_id != status_reached_before:
        status.import_errors = None  # another deploy: its errors are not known yet
    status.reported_at = utcnow()
    if report.restored_snapshot_id and report.restored_snapshot_id == status.restore_snapshot_id:
        finish_restore(session, status, report.restored_snapshot_id, principal)
    healthy = bool(report.components) and all(c.healthy for c in report.components)
    if report.state is not RolloutState.RUNNING or not report.components or healthy:
        status.unhealthy_since = None
    elif status.unhealthy_since is None or report.reached_deploy_id != status_reached_before:
        status.unhealthy_since = status.reported_at
    if report.state is RolloutState.RUNNING and report.reached_deploy_id and healthy:
        reached = _deploy_of(session, deployment_id, report.reached_deploy_id)
        record_reached_healthy(session, deploy=reached, at=utcnow())
    if report.state is RolloutState.FAILED and report.rollout_deploy_id:
        _fail_rollout(session, deployment, report, backend=backend, actor=principal.username)
    elif report.state.value != previous_state:
        record_event(
            session,
            ecs_event(
                action="runtime.state",
                outcome="success",
                actor=principal.username,
                deployment_id=deployment_id,
                message=f"runtime {report.state.value}",
                extra={"runtime": _runtime_fields(status)},
            ),
        )
    session.flush()
    return _status_out(status, deployment)


def desired_runtime(
    session: Session, *, principal: Principal, deployment_id: str, secrets: SecretBox
) -> DesiredRuntime:
    """The live deploy's code state and the Deployment's env vars, secrets decrypted."""
    deployment = get_deployment(
        session, principal=principal, deployment_id=deployment_id, permission=RUNTIME_RUN
    )
    live = (
        session.get(Deploy, deployment.current_deploy_id) if deployment.current_deploy_id else None
    )
    env = decrypted_env(deployment.env_vars, secrets)
    status = session.get(RuntimeStatus, deployment_id)
    restore = None
    restore_location = None
    if status is not None and status.restore_snapshot_id:
        snapshot = session.get(MetadataSnapshot, status.restore_snapshot_id)
        if snapshot is not None:
            restore = snapshot_out(snapshot)
            restore_location = snapshot.location
    return DesiredRuntime(
        deploy_id=live.id if live else None,
        seq=live.seq if live else None,
        image=live.image if live else None,
        runtime_version=live.runtime_version if live else deployment.runtime_version,
        airflow_version=live.airflow_version if live else deployment.airflow_version,
        bundle_sha256=live.bundle_sha256 if live else None,
        dag_deploy_enabled=live.dag_deploy_enabled if live else False,
        env_vars=env,
        secret_keys=[var.key for var in deployment.env_vars if var.is_secret],
        restore=restore,
        restore_location=restore_location,
        snapshot_locations=kept_snapshot_locations(session, deployment_id),
    )


def _fail_rollout(
    session: Session,
    deployment: Deployment,
    report: RuntimeReport,
    *,
    backend: RuntimeBackend,
    actor: str | None,
) -> None:
    failed = _deploy_of(session, deployment.id, report.rollout_deploy_id or "")
    if failed.status == DeployStatus.FAILED.value:
        return  # reported again after a retry of the report: already recorded
    reason = f"runtime rollout failed: {report.error or 'no reason given'}"[:2000]
    if deployment.current_deploy_id == failed.id and report.restored_deploy_id:
        restored = _deploy_of(session, deployment.id, report.restored_deploy_id)
        failed.status = DeployStatus.FAILED.value
        failed.failure_reason = f"{reason}; restored deploy #{restored.seq}"
        deployment.current_deploy_id = restored.id
        deployment.runtime_version = restored.runtime_version
        deployment.airflow_version = restored.airflow_version
        backend.make_live(release_name=deployment.release_name, spec=live_spec_of(restored))
        collect(session, LiveDeployRestored(deployment_id=deployment.id))
    elif deployment.current_deploy_id != failed.id:
        # A newer deploy already replaced it: record the failure, keep the newer one live.
        failed.status = DeployStatus.FAILED.value
        failed.failure_reason = reason
    else:
        # Nothing ran before (a first deploy): nothing to go back to, nothing runs now.
        failed.status = DeployStatus.FAILED.value
        failed.failure_reason = f"{reason}; no earlier deploy to restore"
    session.flush()
    record_event(
        session,
        ecs_event(
            action="deploy.runtime_failed",
            outcome="failure",
            actor=actor,
            deployment_id=deployment.id,
            deploy=deploy_fields(failed),
            message=failed.failure_reason,
        ),
    )


def _deploy_of(session: Session, deployment_id: str, deploy_id: str) -> Deploy:
    deploy = session.get(Deploy, deploy_id)
    if deploy is None or deploy.deployment_id != deployment_id:
        raise NotFound(f"no deploy {deploy_id!r} in this deployment", deploy_id=deploy_id)
    return deploy


def _status_out(status: RuntimeStatus, deployment: Deployment) -> RuntimeStatusOut:
    return RuntimeStatusOut(
        reached_deploy_id=status.reached_deploy_id,
        airflow_version=status.airflow_version,
        state=RolloutState(status.state),
        components=status.components,
        error=status.error,
        reported_at=status.reported_at,
        message=status.message,
        rollout_deploy_id=status.rollout_deploy_id,
        recorded_deploy_id=deployment.current_deploy_id,
        restore_snapshot_id=status.restore_snapshot_id,
        metadata_facts=status.metadata_facts or {},
        import_errors=status.import_errors,
        unhealthy_since=status.unhealthy_since,
    )


def _runtime_fields(status: RuntimeStatus) -> dict[str, object]:
    return {
        "state": status.state,
        "reached_deploy_id": status.reached_deploy_id,
        "rollout_deploy_id": status.rollout_deploy_id,
        "airflow_version": status.airflow_version,
    }
