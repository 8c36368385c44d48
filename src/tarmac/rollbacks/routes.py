"""HTTP route for rollbacks (and their dry runs)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tarmac.api.dependencies import CurrentPrincipal, InstallationDep
from tarmac.deploys.descriptions import DeployDescription
from tarmac.deploys.idempotency import check_idempotency_key
from tarmac.deploys.schemas import DeployOut
from tarmac.rollbacks.perform import perform_rollback
from tarmac.rollbacks.service import RollbackRequest

router = APIRouter(prefix="/api/v1/deployments/{deployment_id}", tags=["rollbacks"])


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: DeployDescription | None = None
    dry_run: bool = False
    acknowledge: list[str] = Field(default_factory=list, max_length=10)


@router.post(
    "/deploys/{deploy_id}/rollback",
    status_code=status.HTTP_201_CREATED,
    response_model=DeployOut,
    responses={200: {"description": "dry run: {plan}; or the replay of an Idempotency-Key"}},
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
    outcome = perform_rollback(
        installation,
        principal=principal,
        deployment_id=deployment_id,
        target_deploy_id=deploy_id,
        request=RollbackRequest(
            description=body.description,
            dry_run=body.dry_run,
            acknowledge=frozenset(body.acknowledge),
        ),
        idempotency_key=check_idempotency_key(idempotency_key),
    )
    if outcome.plan is not None:
        return JSONResponse({"plan": outcome.plan}, status_code=200)
    if outcome.replayed:
        response.status_code = status.HTTP_200_OK
    return outcome.deploy
