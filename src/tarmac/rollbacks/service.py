"""Rollbacks: gather the facts, ask the policy, and make the target's code live as a new deploy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tarmac.access import roles
from tarmac.access.principal import Principal
from tarmac.db.base import utcnow
from tarmac.deployments.models import Deployment
from tarmac.deployments.schemas import DagDeployMode
from tarmac.deployments.service import get_deployment
from tarmac.deploys.code_state import CodeState
from tarmac.deploys.git_metadata import attach_git, git_event_fields, git_of
from tarmac.deploys.idempotency import IdempotencyClaim, find_replay
from tarmac.deploys.locking import lock_deployment
from tarmac.deploys.models import Deploy, live_deploy
from tarmac.deploys.recording import record_and_make_live
from tarmac.deploys.refs import deploy_not_found, find_deploy
from tarmac.deploys.schemas import DeployStatus
from tarmac.deploys.uploads import bundle_manifest
from tarmac.errors import NotFound, TarmacError
from tarmac.events.ecs import ecs_event
from tarmac.events.service import record_event
from tarmac.import_checks.service import inherited_check
from tarmac.installation.flags import InstallationFlags
from tarmac.rollbacks.facts import DeployFacts, DeploymentFacts, MarkedBad
from tarmac.rollbacks.policy import RollbackDecision, decide_rollback, raise_first_refusal
from tarmac.rollouts.models import RuntimeStatus
from tarmac.runtime_backends.base import RuntimeBackend
from tarmac.runtimes.catalog import RuntimeCatalog
from tarmac.safe_ops.hold import set_hold_after_rollback
from tarmac.safe_ops.last_good import LAST_GOOD, find_last_good


@dataclass(frozen=True)
class RollbackRequest:
    description: str | None
    dry_run: bool
    acknowledge: frozenset[str]


@dataclass(frozen=True)
class RollbackResult:
    """The new deploy (``replayed`` for a repeated key), its plan and the locked Deployment."""

    plan: dict[str, Any] | None
    deploy: Deploy
    deployment: Deployment
    replayed: bool = False


def deployment_facts(
    deployment: Deployment, *, metadata_facts: dict[str, Any] | None = None
) -> DeploymentFacts:
    return DeploymentFacts(
        id=deployment.id,
        name=deployment.name,
        description=deployment.description,
        executor=deployment.executor,
        resources=deployment.resources,
        env_var_keys=tuple(v.key for v in deployment.env_vars),
        dag_deploy_mode=DagDeployMode(deployment.dag_deploy_mode),
        rollback_enabled=deployment.rollback_enabled,
        runtime_version=deployment.runtime_version,
        metadata_facts=metadata_facts or {},
    )


def deploy_facts(deploy: Deploy) -> DeployFacts:
    return DeployFacts(
        id=deploy.id,
        deployment_id=deploy.deployment_id,
        seq=deploy.seq,
        **CodeState.of(deploy).as_dict(),
        created_at=deploy.created_at,
        pinned=deploy.pinned,
        status=DeployStatus(deploy.status),
        dags=deploy.dags,
        marked_bad=MarkedBad(
            reason=deploy.marked_bad_reason or "", by=deploy.marked_bad_by, at=deploy.marked_bad_at
        )
        if deploy.marked_bad_at is not None
        else None,
    )


def decide(
    session: Session,
    *,
    principal: Principal,
    deployment: Deployment,
    target_deploy_id: str,
    request: RollbackRequest,
    flags: InstallationFlags,
    catalog: RuntimeCatalog,
    now: datetime,
) -> tuple[RollbackDecision, Deploy]:
    """Load the facts of one rollback and let the pure policy decide.

    Only a dry run (the plan the API, UI and CLI show) loads the bundles' manifests for
    the file diff; a rollback itself does without (no rule looks at files), so its cost
    does not grow with the number of files. Its event's summary then says "DAG bundle
    changed" without counts.
    """
    if target_deploy_id == LAST_GOOD:
        target = find_last_good(session, deployment=deployment)
        if target is None:
            raise NotFound(
                "no good deploy before the live one (DEPLOYED, not marked bad, other code)",
                deploy_id=LAST_GOOD,
            )
    else:
        target = find_deploy(session, deployment_id=deployment.id, ref=target_deploy_id)
    if target is None:
        raise deploy_not_found(target_deploy_id)
    live = live_deploy(session, deployment)
    status = session.get(RuntimeStatus, deployment.id)
    with_files = request.dry_run
    decision = decide_rollback(
        deployment=deployment_facts(
            deployment, metadata_facts=status.metadata_facts if status else None
        ),
        target=deploy_facts(target),
        live=deploy_facts(live) if live else None,
        flags=flags,
        permissions=principal.permissions_on(deployment.id),
        catalog=catalog,
        now=now,
        description=request.description,
        acknowledged=request.acknowledge,
        dry_run=request.dry_run,
        target_manifest=bundle_manifest(session, target.bundle_sha256) if with_files else None,
        live_manifest=bundle_manifest(session, live.bundle_sha256) if with_files and live else None,
    )
    return decision, target


def target_is_prepared(
    session: Session, *, deployment_id: str, target_deploy_id: str, backend: RuntimeBackend
) -> bool:
    """Whether the target's bundle is unpacked already, so nothing slow precedes the lock.

    Says nothing to the caller: whatever it returns, the rollback is decided (the
    caller's permissions included) before anything happens.
    """
    if target_deploy_id == LAST_GOOD:
        return False
    try:
        target = find_deploy(session, deployment_id=deployment_id, ref=target_deploy_id)
    except TarmacError:  # an ambiguous prefix: the decision says so, after the permissions
        return False
    return target is not None and backend.is_prepared(target.bundle_sha256)


def preview_rollback(
    session: Session,
    *,
    principal: Principal,
    deployment_id: str,
    target_deploy_id: str,
    request: RollbackRequest,
    flags: InstallationFlags,
    catalog: RuntimeCatalog,
) -> RollbackDecision:
    """The decision without acting: a dry run, or the look before the lock is taken."""
    deployment = get_deployment(session, principal=principal, deployment_id=deployment_id)
    decision, _target = decide(
        session,
        principal=principal,
        deployment=deployment,
        target_deploy_id=target_deploy_id,
        request=request,
        flags=flags,
        catalog=catalog,
        now=utcnow(),
    )
    return decision


def execute_rollback(
    session: Session,
    *,
    principal: Principal,
    deployment_id: str,
    target_deploy_id: str,
    request: RollbackRequest,
    flags: InstallationFlags,
    catalog: RuntimeCatalog,
    backend: RuntimeBackend,
    lock_timeout_seconds: float,
    idempotency: IdempotencyClaim | None = None,
) -> RollbackResult:
    """Roll back under the Deployment's lock: a NEW deploy with the target's code state.

    The new deploy's type is what it changes over the live code, not the target's type.
    """
    deployment = lock_deployment(
        session, deployment_id=deployment_id, timeout_seconds=lock_timeout_seconds
    )
    principal.require(roles.DEPLOYMENT_GET, deployment_id=deployment_id)
    if idempotency is not None:
        earlier = find_replay(
            session, deployment_id=deployment_id, user_id=principal.user_id, claim=idempotency
        )
        if earlier is not None:
            return RollbackResult(plan=None, deploy=earlier, deployment=deployment, replayed=True)
    live = live_deploy(session, deployment)
    decision, target = decide(
        session,
        principal=principal,
        deployment=deployment,
        target_deploy_id=target_deploy_id,
        request=request,
        flags=flags,
        catalog=catalog,
        now=utcnow(),
    )
    raise_first_refusal(decision)
    assert decision.plan is not None  # allowed decisions always carry a plan
    state = CodeState.of(target)
    dags, import_check = inherited_check(target)
    deploy = record_and_make_live(
        session,
        backend=backend,
        deployment=deployment,
        actor=principal,
        deploy_type=state.deploy_type_over(CodeState.of(live) if live else None),
        description=decision.description,
        state=state,
        rollback_from_id=target.id,
        idempotency=idempotency,
        event_extra={
            "rollback": rollback_event_fields(decision, target, request),
            **git_event_fields(git_of(target)),
        },
        dags=dags,
        import_check=import_check,
    )
    attach_git(session, deploy=deploy, git=git_of(target))  # the commit it brings back
    if deploy.status == DeployStatus.DEPLOYED.value:
        set_hold_after_rollback(
            session, deployment=deployment, rollback=deploy, actor=principal.username
        )
    return RollbackResult(plan=decision.plan.to_json(), deploy=deploy, deployment=deployment)


def rollback_event_fields(
    decision: RollbackDecision, target: Deploy, request: RollbackRequest
) -> dict[str, object]:
    plan = decision.plan
    return {
        "target": {"id": target.id, "seq": target.seq},
        "summary": plan.summary if plan else None,
        "warnings": [w.code for w in plan.warnings] if plan else [],
        "acknowledged": sorted(request.acknowledge),
        "dry_run": request.dry_run,
    }


def record_refused_rollback(
    session: Session,
    *,
    principal: Principal,
    deployment_id: str,
    target_deploy_id: str,
    error: TarmacError,
) -> None:
    """Log a refused rollback (outcome failure, with the code) in its own transaction."""
    record_event(
        session,
        ecs_event(
            action="deploy.rollback",
            outcome="failure",
            actor=principal.username,
            deployment_id=deployment_id,
            message=error.message,
            extra={
                "rollback": {"target": {"id": target_deploy_id}},
                "error": {"code": error.code},
            },
        ),
    )
