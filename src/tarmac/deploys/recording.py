"""How a new deploy is recorded and made live, for plain deploys and rollbacks alike."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from tarmac.access.principal import Principal
from tarmac.db.base import utcnow
from tarmac.db.unit_of_work import collect
from tarmac.deployments.models import Deployment
from tarmac.deployments.schemas import DagDeployMode
from tarmac.deploys.code_state import CodeState
from tarmac.deploys.idempotency import IdempotencyClaim
from tarmac.deploys.models import Deploy, live_deploy
from tarmac.deploys.schemas import DeployStatus, DeployType
from tarmac.events.domain import DeployFinished
from tarmac.events.ecs import ecs_event
from tarmac.events.service import record_event
from tarmac.runtime_backends.base import LiveSpec, RuntimeBackend

log = logging.getLogger(__name__)


def live_spec_of(deploy: Deploy) -> LiveSpec:
    return LiveSpec(deploy_id=deploy.id, seq=deploy.seq, code=CodeState.of(deploy))


def record_and_make_live(
    session: Session,
    *,
    backend: RuntimeBackend,
    deployment: Deployment,
    actor: Principal,
    deploy_type: DeployType,
    description: str | None,
    state: CodeState,
    rollback_from_id: str | None = None,
    idempotency: IdempotencyClaim | None = None,
    event_extra: dict[str, object] | None = None,
    dags: dict[str, str] | None = None,
    import_check: dict[str, Any] | None = None,
) -> Deploy:
    """Append a deploy to the locked Deployment's history and make it live.

    On success the deploy is DEPLOYED and the Deployment points at it. If the backend
    fails, the deploy is recorded FAILED with the reason and the previous deploy stays
    live. The caller commits.
    """
    previous = live_deploy(session, deployment)
    deployment.last_deploy_seq += 1
    deploy = Deploy(
        deployment_id=deployment.id,
        seq=deployment.last_deploy_seq,
        type=deploy_type.value,
        status=DeployStatus.INITIALIZED.value,
        description=description,
        **state.as_dict(),
        rollback_from_id=rollback_from_id,
        created_by_id=actor.user_id or None,  # tarmac itself (automatic rollback): none
        created_by=actor.username,
        idempotency_key=idempotency.key if idempotency else None,
        idempotency_fingerprint=idempotency.fingerprint if idempotency else None,
        dags=dags,
        import_check=import_check,
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
        deployment.runtime_version = state.runtime_version
        deployment.airflow_version = state.airflow_version
        if deployment.dag_deploy_mode in (DagDeployMode.IMAGE, DagDeployMode.DAG_DEPLOY):
            deployment.dag_deploy_mode = (
                DagDeployMode.DAG_DEPLOY if state.dag_deploy_enabled else DagDeployMode.IMAGE
            ).value
    deploy.finished_at = utcnow()
    collect(
        session,
        DeployFinished(
            deployment_id=deployment.id,
            kind="rollback" if rollback_from_id else "deploy",
            outcome="success" if deploy.status == DeployStatus.DEPLOYED.value else "failure",
            seconds=(deploy.finished_at - deploy.created_at).total_seconds(),
        ),
    )
    session.flush()
    if import_check is not None:
        event_extra = {**(event_extra or {}), "import_check": import_check_event(import_check)}
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


def import_check_event(import_check: dict[str, Any]) -> dict[str, object]:
    """The import gate's outcome in an event: no tracebacks, the files that failed."""
    return {
        "status": import_check.get("status"),
        "mode": import_check.get("mode"),
        "airflow_version": import_check.get("airflow_version"),
        "reason": import_check.get("reason"),
        "allow_import_errors": bool(import_check.get("allow_import_errors")),
        "new_errors": list(import_check.get("new_errors") or []),
    }


def deploy_fields(deploy: Deploy) -> dict[str, object]:
    """A deploy as the event log records it."""
    return {
        "id": deploy.id,
        "seq": deploy.seq,
        "type": deploy.type,
        "status": deploy.status,
        **CodeState.of(deploy).as_dict(),
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
