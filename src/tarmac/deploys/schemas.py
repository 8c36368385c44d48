"""Request and response shapes of the deploys API."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from tarmac.rollouts.schemas import RolloutOut
from tarmac.safe_ops.schemas import MarkedBadOut


class DeployType(StrEnum):
    IMAGE_AND_DAG = "IMAGE_AND_DAG"
    IMAGE_ONLY = "IMAGE_ONLY"
    DAG_ONLY = "DAG_ONLY"


class DeployStatus(StrEnum):
    INITIALIZED = "INITIALIZED"
    DEPLOYED = "DEPLOYED"
    FAILED = "FAILED"


class GitOut(BaseModel):
    """Where a deploy's code came from; ``commit_url`` for GitHub/GitLab/Bitbucket remotes."""

    commit: str
    branch: str | None
    remote_url: str | None
    author: str | None
    message: str | None
    committed_at: datetime | None = None
    commit_url: str | None = None


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
    rollback_from_id: str | None = Field(
        description="kept for compatibility: the same as rolled_back_to"
    )
    rolled_back_to: str | None = Field(
        default=None,
        description="for a rollback, the id of the earlier deploy whose code it brought back",
    )
    created_by: str | None
    created_at: datetime
    finished_at: datetime | None
    failure_reason: str | None
    pinned: bool
    is_current: bool
    # What the runtime side reports of this deploy's rollout (null: none worked on it).
    rollout: RolloutOut | None = None
    dag_ids: list[str] | None = Field(
        default=None, description="DAG ids the deploy's bundle defines (None: not checked)"
    )
    import_check: dict[str, Any] | None = Field(
        default=None,
        description="the import gate: status (passed/allowed/warned/skipped/off/inherited),"
        " mode, airflow_version, reason, allow_import_errors, errors [{file, error}],"
        " new_errors",
    )
    marked_bad: MarkedBadOut | None = None
    reached_healthy_at: datetime | None = None
    automatic: bool = False
    cleared_hold: bool = False
    freeze_override_reason: str | None = None
    git: GitOut | None = None


class DeployList(BaseModel):
    items: list[DeployOut]
    next_cursor: str | None


class CurrentDags(BaseModel):
    deploy_id: str | None
    bundle_sha256: str | None
    dag_deploy_enabled: bool
    download_url: str | None = Field(
        default=None,
        description="A short-lived pre-signed URL of the bundle in the object store (S3 "
        "blob stores only); fetch it without credentials, or fall back to /api/v1/blobs.",
    )
