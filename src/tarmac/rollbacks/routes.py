"""HTTP route for rollbacks (and their dry runs)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from tarmac.access.principal import Principal
from tarmac.api.dependencies import CurrentPrincipal, InstallationDep, commit
from tarmac.deployments.service import get_deployment
from tarmac.deploys.locking import deploy_lock_errors
from tarmac.deploys.schemas import DeployOut, DeployStatus
from tarmac.deploys.service import check_idempotency_key, deploy_out, find_idempotent_deploy
from tarmac.errors import DeployFailed, NotFound, TarmacError
from tarmac.installation.context import Installation
from tarmac.rollbacks import service
from tarmac.rollbacks.policy import raise_first_refusal

router = APIRouter(prefix="/api/v1/deployments/{deployment_id}", tags=["rollbacks"])


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=10_000)
    dry_run: bool = False
    acknowledge: list[str] = Field(default_factory=list, max_length=10)


@router.post(
    "/deploys/{deploy_id}/rollback",
    status_code=status.HTTP_201_CREATED,
    response_model=DeployOut,
    responses={200: {"description": "dry run: {plan}"}},
)
def rollback(
    deployment_id: str,
    deploy_id: str,
    body: RollbackBody,
    principal: CurrentPrincipal,
    installation: InstallationDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Any:
    """Roll back to ``deploy_id`` as a new deploy; ``dry_run`` returns the plan only."""
    request = service.RollbackRequest(
        description=body.description, dry_run=body.dry_run, acknowledge=frozenset(body.acknowledge)
    )
    key = check_idempotency_key(idempotency_key)
    try:
        with installation.database.session() as session:
            if (
                key
                and not body.dry_run
                and (earlier := _replay(session, principal, deployment_id, key))
            ):
                response.status_code = status.HTTP_200_OK
                return earlier
            decision = service.preview_rollback(
                session,
                principal=principal,
                deployment_id=deployment_id,
                target_deploy_id=deploy_id,
                request=request,
                flags=installation.flags,
                catalog=installation.catalog,
            )
            # Refused already without the lock: say so at once (the decision is re-made
            # under the lock, so a refusal can never be skipped by a race).
            raise_first_refusal(decision)
            assert decision.plan is not None
            if body.dry_run:
                return JSONResponse({"plan": decision.plan.to_json()}, status_code=200)
            target_bundle = decision.plan.bundle_sha256.after
        # Unpack the target before locking, so under the lock a rollback is a symlink swap.
        if target_bundle is not None:
            installation.runtime_backend.prepare(str(target_bundle))
        with (
            installation.database.session(write=True) as session,
            deploy_lock_errors(deployment_id),
        ):
            result = service.execute_rollback(
                session,
                principal=principal,
                deployment_id=deployment_id,
                target_deploy_id=deploy_id,
                request=request,
                flags=installation.flags,
                catalog=installation.catalog,
                backend=installation.runtime_backend,
                lock_timeout_seconds=installation.settings.deploy_lock_timeout_seconds,
                idempotency_key=key,
            )
            assert result.deploy is not None
            deployment = get_deployment(session, principal=principal, deployment_id=deployment_id)
            out = deploy_out(result.deploy, deployment)
            commit(session, installation)
    except TarmacError as error:
        if not body.dry_run and not isinstance(error, NotFound):
            _log_refusal(installation, principal, deployment_id, deploy_id, error)
        raise
    if result.replayed:
        response.status_code = status.HTTP_200_OK
    if result.deploy.status == DeployStatus.FAILED.value:
        raise DeployFailed(
            result.deploy.failure_reason or "the rollback failed",
            deploy=out.model_dump(mode="json"),
        )
    return out


def _replay(
    session: Session, principal: Principal, deployment_id: str, key: str
) -> DeployOut | None:
    """The deploy an earlier request with the same Idempotency-Key created, if any."""
    deployment = get_deployment(session, principal=principal, deployment_id=deployment_id)
    earlier = find_idempotent_deploy(
        session, deployment_id=deployment_id, user_id=principal.user_id, key=key
    )
    return deploy_out(earlier, deployment) if earlier else None


def _log_refusal(
    installation: Installation,
    principal: Principal,
    deployment_id: str,
    deploy_id: str,
    error: TarmacError,
) -> None:
    with installation.database.session(write=True) as session:
        service.record_refused_rollback(
            session,
            principal=principal,
            deployment_id=deployment_id,
            target_deploy_id=deploy_id,
            error=error,
        )
        commit(session, installation)
