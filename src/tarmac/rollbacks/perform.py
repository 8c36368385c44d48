"""One rollback from request to committed deploy, for every entry point (API and UI).

The order matters: replay an Idempotency-Key; unless the target is unpacked already,
decide without a lock, refuse at once if the policy refuses, and unpack the target bundle
(slow) before the lock; then decide under the Deployment's lock and make the new deploy
live; and log every refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from tarmac.access.principal import Principal
from tarmac.deployments.service import get_deployment
from tarmac.deploys.idempotency import (
    ROLLBACK_ENDPOINT,
    IdempotencyClaim,
    claim_for,
    find_replay,
)
from tarmac.deploys.locking import deploy_lock_errors
from tarmac.deploys.schemas import DeployOut, DeployStatus
from tarmac.deploys.service import deploy_out
from tarmac.errors import DeployFailed, NotFound, TarmacError
from tarmac.installation.context import Installation
from tarmac.rollbacks import service
from tarmac.rollbacks.policy import raise_first_refusal


@dataclass(frozen=True)
class RollbackOutcome:
    """A dry run's plan, or the new deploy (``replayed`` when an earlier request made it)."""

    plan: dict[str, Any] | None = None
    deploy: DeployOut | None = None
    replayed: bool = False


def perform_rollback(
    installation: Installation,
    *,
    principal: Principal,
    deployment_id: str,
    target_deploy_id: str,
    request: service.RollbackRequest,
    idempotency_key: str | None = None,
) -> RollbackOutcome:
    """Preview or perform a rollback; raises the refusal's error (logged unless a dry run)."""
    try:
        return _perform(
            installation,
            principal=principal,
            deployment_id=deployment_id,
            target_deploy_id=target_deploy_id,
            request=request,
            idempotency_key=idempotency_key,
        )
    except TarmacError as error:
        if not request.dry_run and not isinstance(error, NotFound | DeployFailed):
            _log_refusal(installation, principal, deployment_id, target_deploy_id, error)
        raise


def _perform(
    installation: Installation,
    *,
    principal: Principal,
    deployment_id: str,
    target_deploy_id: str,
    request: service.RollbackRequest,
    idempotency_key: str | None,
) -> RollbackOutcome:
    claim = (
        None
        if request.dry_run
        else _claim(idempotency_key, deployment_id, target_deploy_id, request)
    )
    with installation.database.session() as session:
        if claim is not None:
            earlier = _replay(session, principal, deployment_id, claim)
            if earlier is not None:
                return RollbackOutcome(deploy=earlier, replayed=True)
        # A target that is unpacked already needs no slow work before the lock: the
        # rollback is then decided once, under it (the decision checks permissions).
        decision = None
        if request.dry_run or not service.target_is_prepared(
            session,
            deployment_id=deployment_id,
            target_deploy_id=target_deploy_id,
            backend=installation.runtime_backend,
        ):
            decision = service.preview_rollback(
                session,
                principal=principal,
                deployment_id=deployment_id,
                target_deploy_id=target_deploy_id,
                request=request,
                flags=installation.flags,
                catalog=installation.catalog,
            )
    if decision is not None:
        # Refused already without the lock: say so at once, before unpacking anything.
        # The decision is made again under the lock, so a race can never skip a refusal.
        raise_first_refusal(decision)
        assert decision.plan is not None  # an allowed decision always carries its plan
        if request.dry_run:
            return RollbackOutcome(plan=decision.plan.to_json())
        target_bundle = decision.plan.bundle_sha256.after
        if target_bundle is not None:  # unpack now, so under the lock it is a symlink swap
            installation.runtime_backend.prepare(str(target_bundle))
    with installation.database.session(write=True) as session, deploy_lock_errors(deployment_id):
        result = service.execute_rollback(
            session,
            principal=principal,
            deployment_id=deployment_id,
            target_deploy_id=target_deploy_id,
            request=request,
            flags=installation.flags,
            catalog=installation.catalog,
            backend=installation.runtime_backend,
            lock_timeout_seconds=installation.settings.deploy_lock_timeout_seconds,
            idempotency=claim,
        )
        out = deploy_out(result.deploy, result.deployment)
        installation.commit(session)
    if result.deploy.status == DeployStatus.FAILED.value:
        raise DeployFailed(
            result.deploy.failure_reason or "the rollback failed",
            deploy=out.model_dump(mode="json"),
        )
    return RollbackOutcome(deploy=out, replayed=result.replayed)


def _claim(
    key: str | None, deployment_id: str, target_deploy_id: str, request: service.RollbackRequest
) -> IdempotencyClaim | None:
    return claim_for(
        key,
        endpoint=ROLLBACK_ENDPOINT,
        deployment_id=deployment_id,
        request={
            "target": target_deploy_id,
            "description": request.description,
            "acknowledge": sorted(request.acknowledge),
        },
    )


def _replay(
    session: Session, principal: Principal, deployment_id: str, claim: IdempotencyClaim
) -> DeployOut | None:
    deployment = get_deployment(session, principal=principal, deployment_id=deployment_id)
    earlier = find_replay(
        session, deployment_id=deployment_id, user_id=principal.user_id, claim=claim
    )
    return deploy_out(earlier, deployment) if earlier else None


def _log_refusal(
    installation: Installation,
    principal: Principal,
    deployment_id: str,
    target_deploy_id: str,
    error: TarmacError,
) -> None:
    with installation.database.session(write=True) as session:
        service.record_refused_rollback(
            session,
            principal=principal,
            deployment_id=deployment_id,
            target_deploy_id=target_deploy_id,
            error=error,
        )
        installation.commit(session)
