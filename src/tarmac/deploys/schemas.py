"""Request and response shapes of the deploys API."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from tarmac.safe_ops.schemas import MarkedBadOut


class DeployType(StrEnum):
    IMAGE_AND_DAG = "IMAGE_AND_DAG"
    IMAGE_ONLY = "IMAGE_ONLY"
    DAG_ONLY = "DAG_ONLY"


class DeployStatus(StrEnum):
    INITIALIZED = "INITIALIZED"
    DEPLOYED = "DEPLOYED"
    FAILED = "FAILED"


class DeployOut(BaseModel):
    id: str
    deployment_id: str
    seq: int
    type: DeployType
    status: DeployStatus
    description: str | None
    image: str | None
    runtime_version: str
    airflow_version: str
    dag_deploy_enabled: bool
    bundle_sha256: str | None
    rollback_from_id: str | None
    created_by: str | None
    created_at: datetime
    finished_at: datetime | None
    failure_reason: str | None
    pinned: bool
    is_current: bool
    marked_bad: MarkedBadOut | None = None
    reached_healthy_at: datetime | None = None
    automatic: bool = False
    cleared_hold: bool = False
    freeze_override_reason: str | None = None


class DeployList(BaseModel):
    items: list[DeployOut]
    next_cursor: str | None


class CurrentDags(BaseModel):
    deploy_id: str | None
    bundle_sha256: str | None
    dag_deploy_enabled: bool
