"""HTTP route for rollbacks (and their dry runs)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tarmac.access.principal import Principal
from tarmac.api.dependencies import CurrentPrincipal, InstallationDep, commit
from tarmac.deployments.service import get_deployment
from tarmac.deploys.locking import deploy_lock_errors
from tarmac.deploys.schemas import DeployOut, DeployStatus
from tarmac.deploys.service import check_idempotency_key, deploy_out
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
            decision = service.preview_rollback(
                session,
                principal=principal,
                deployment_id=deployment_id,
                target_deploy_id=deploy_id,
                request=request,
                flags=installation.flags,
                catalog=installation.catalog,
            )
            if body.dry_run:
                raise_first_refusal(decision)
                assert decision.plan is not None
                return JSONResponse({"plan": decision.plan.to_json()}, status_code=200)
            target_bundle = decision.plan.bundle_sha256.after if decision.plan else None
        # Unpack the target before locking, so under the lock a rollback is a symlink swap.
        if target_bundle is not None and not decision.refusals:
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
