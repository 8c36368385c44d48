"""A deploy's code state and how a new deploy is recorded and made live.

Shared by plain deploys and rollbacks: both create a NEW deploy under the Deployment's
lock, make it live through the runtime backend, and only then call it DEPLOYED.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from tarmac import metrics
from tarmac.access.principal import Principal
from tarmac.db.base import utcnow
from tarmac.deployments.models import Deployment
from tarmac.deploys.live_notifications import notify_after_commit
from tarmac.deploys.models import Deploy
from tarmac.deploys.schemas import DeployStatus
from tarmac.events.ecs import ecs_event
from tarmac.events.service import record_event
from tarmac.runtime_backends.base import LiveSpec, RuntimeBackend

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CodeState:
    """What a deploy makes live: image + runtime + DAG bundle + DAG deploy setting."""

    image: str | None
    runtime_version: str
    airflow_version: str
    bundle_sha256: str | None
    dag_deploy_enabled: bool

    @classmethod
    def of(cls, deploy: Deploy) -> CodeState:
        return cls(
            image=deploy.image,
            runtime_version=deploy.runtime_version,
            airflow_version=deploy.airflow_version,
            bundle_sha256=deploy.bundle_sha256,
            dag_deploy_enabled=deploy.dag_deploy_enabled,
        )


def live_spec_of(deploy: Deploy) -> LiveSpec:
    return LiveSpec(
        deploy_id=deploy.id,
        seq=deploy.seq,
        image=deploy.image,
        runtime_version=deploy.runtime_version,
        airflow_version=deploy.airflow_version,
        dag_deploy_enabled=deploy.dag_deploy_enabled,
        bundle_sha256=deploy.bundle_sha256,
    )


def record_and_make_live(
    session: Session,
    *,
    backend: RuntimeBackend,
    deployment: Deployment,
    actor: Principal,
    deploy_type: str,
    description: str | None,
    state: CodeState,
    rollback_from_id: str | None = None,
    idempotency_key: str | None = None,
    event_extra: dict[str, object] | None = None,
) -> Deploy:
    """Append a deploy to the locked Deployment's history and make it live.

    On success the deploy is DEPLOYED and the Deployment points at it. If the backend
    fails, the deploy is recorded FAILED with the reason and the previous deploy stays
    live. The caller commits.
    """
    previous = (
        session.get(Deploy, deployment.current_deploy_id) if deployment.current_deploy_id else None
    )
    deployment.last_deploy_seq += 1
    deploy = Deploy(
        deployment_id=deployment.id,
        seq=deployment.last_deploy_seq,
        type=deploy_type,
        status=DeployStatus.INITIALIZED.value,
        description=description,
        image=state.image,
        runtime_version=state.runtime_version,
        airflow_version=state.airflow_version,
        dag_deploy_enabled=state.dag_deploy_enabled,
        bundle_sha256=state.bundle_sha256,
        rollback_from_id=rollback_from_id,
        created_by_id=actor.user_id,
        created_by=actor.username,
        idempotency_key=idempotency_key,
        created_at=utcnow(),
    )
    session.add(deploy)
    session.flush()
    try:
        backend.make_live(release_name=deployment.release_name, spec=live_spec_of(deploy))
    except Exception as exc:
        log.exception("deploy %s of %s failed to go live", deploy.seq, deployment.release_name)
        _restore_previous(backend, deployment, previous)
        deploy.status = DeployStatus.FAILED.value
        deploy.failure_reason = f"could not make the code live: {exc}"[:2000]
    else:
        deploy.status = DeployStatus.DEPLOYED.value
        deployment.current_deploy_id = deploy.id
        notify_after_commit(session, deployment_id=deployment.id)  # wakes long-polling agents
        deployment.runtime_version = state.runtime_version
        deployment.airflow_version = state.airflow_version
        if deployment.dag_deploy_mode in ("image", "dag_deploy"):
            deployment.dag_deploy_mode = "dag_deploy" if state.dag_deploy_enabled else "image"
    deploy.finished_at = utcnow()
    metrics.observe_deploy(
        kind="rollback" if rollback_from_id else "deploy",
        outcome="success" if deploy.status == DeployStatus.DEPLOYED.value else "failure",
        seconds=(deploy.finished_at - deploy.created_at).total_seconds(),
    )
    session.flush()
    record_event(session, deploy_event(deploy, actor=actor.username, extra=event_extra))
    return deploy


def deploy_event(
    deploy: Deploy, *, actor: str | None, extra: dict[str, object] | None = None
) -> dict[str, object]:
    action = "deploy.rollback" if deploy.rollback_from_id else "deploy.create"
    return ecs_event(
        action=action,
        outcome="success" if deploy.status == DeployStatus.DEPLOYED.value else "failure",
        actor=actor,
        deployment_id=deploy.deployment_id,
        deploy=deploy_fields(deploy),
        message=deploy.failure_reason,
        extra=extra,
    )


def deploy_fields(deploy: Deploy) -> dict[str, object]:
    return {
        "id": deploy.id,
        "seq": deploy.seq,
        "type": deploy.type,
        "status": deploy.status,
        "image": deploy.image,
        "runtime_version": deploy.runtime_version,
        "airflow_version": deploy.airflow_version,
        "bundle_sha256": deploy.bundle_sha256,
        "dag_deploy_enabled": deploy.dag_deploy_enabled,
        "rollback_from_id": deploy.rollback_from_id,
        "description": deploy.description,
    }


def _restore_previous(
    backend: RuntimeBackend, deployment: Deployment, previous: Deploy | None
) -> None:
    if previous is None:
        return
    try:
        backend.make_live(release_name=deployment.release_name, spec=live_spec_of(previous))
    except Exception:  # recovery at the next start re-applies it
        log.exception("could not restore deploy %s of %s", previous.seq, deployment.release_name)
