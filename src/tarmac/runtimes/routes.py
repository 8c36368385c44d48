"""HTTP route for the runtime catalog."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from tarmac.api.dependencies import CurrentPrincipal, InstallationDep

router = APIRouter(prefix="/api/v1", tags=["runtimes"])


class RuntimeOut(BaseModel):
    version: str
    airflow_version: str
    restricted: bool
    restricted_reason: str | None
    supports_rollback: bool


class RuntimeList(BaseModel):
    items: list[RuntimeOut]


@router.get("/runtimes", response_model=RuntimeList)
def list_runtimes(_principal: CurrentPrincipal, installation: InstallationDep) -> RuntimeList:
    return RuntimeList(
        items=[
            RuntimeOut(
                version=r.version,
                airflow_version=r.airflow_version,
                restricted=r.restricted,
                restricted_reason=r.restricted_reason,
                supports_rollback=r.supports_rollback,
            )
            for r in installation.catalog.items
        ]
    )
