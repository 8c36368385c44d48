"""The runtime side's report, the runtime status and snapshots as the API shows them."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, field_validator


def no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(no_nul)]
"""Stored text: PostgreSQL refuses a NUL character, so the API does first (400)."""


class RolloutState(StrEnum):
    PREPARING = "preparing"
    STOPPING = "stopping"
    SNAPSHOTTING = "snapshotting"
    MIGRATING = "migrating"
    STARTING = "starting"
    RUNNING = "running"
    FAILED = "failed"
    STOPPED = "stopped"
    UNKNOWN = "unknown"


class ComponentHealth(BaseModel):
    name: Text = Field(max_length=64)
    healthy: bool


class DagImportError(BaseModel):
    """A live DAG file Airflow failed to import; ``new``: it imported before the switch."""

    file: Text = Field(max_length=1024)
    error: Text = Field(max_length=2000)
    new: bool = False


class RuntimeReport(BaseModel):
    """What the runtime side (``tarmac runtime run``) reports after every step."""

    reached_deploy_id: Text | None = Field(default=None, max_length=32)
    rollout_deploy_id: Text | None = Field(default=None, max_length=32)
    airflow_version: Text | None = Field(default=None, max_length=32)
    state: RolloutState
    components: list[ComponentHealth] = Field(default_factory=list, max_length=16)
    error: Text | None = Field(default=None, max_length=8000)
    # On a failed rollout: the deploy the runtime side restored and runs again.
    restored_deploy_id: Text | None = Field(default=None, max_length=32)
    restored_snapshot_id: Text | None = Field(default=None, max_length=32)
    # What the runtime side is doing now, in words ("installing apache-airflow==2.10.5").
    message: Text | None = Field(default=None, max_length=2000)
    metadata_facts: dict[str, Any] = Field(default_factory=dict)
    # Airflow's import errors of the reached deploy's DAG files (None: not known).
    import_errors: list[DagImportError] | None = Field(default=None, max_length=200)

    @field_validator("metadata_facts")
    @classmethod
    def _no_nul_anywhere(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "\\u0000" in json.dumps(value) or "\x00" in json.dumps(value, ensure_ascii=False):
            raise ValueError("must not contain NUL characters")
        return value


class RuntimeStatusOut(BaseModel):
    reached_deploy_id: str | None
    airflow_version: str | None
    state: RolloutState
    components: list[ComponentHealth]
    error: str | None
    reported_at: datetime | None
    message: str | None = None
    rollout_deploy_id: str | None = None
    recorded_deploy_id: str | None = None
    restore_snapshot_id: str | None = None
    metadata_facts: dict[str, Any] = Field(default_factory=dict)
    import_errors: list[DagImportError] | None = None
    unhealthy_since: datetime | None = None


class RolloutOut(BaseModel):
    """A deploy's rollout as the runtime side reports it (Deploy JSON's ``rollout``)."""

    state: RolloutState
    error: str | None


class SnapshotIn(BaseModel):
    deploy_id: Text | None = Field(default=None, max_length=32)
    airflow_version: Text = Field(max_length=32)
    size_bytes: int = Field(ge=0)
    location: Text = Field(max_length=4096)


class SnapshotOut(BaseModel):
    id: str
    deploy_id: str | None
    airflow_version: str
    size_bytes: int
    created_at: datetime
    restored_at: datetime | None = None


class SnapshotList(BaseModel):
    items: list[SnapshotOut]


class RestoreAccepted(BaseModel):
    snapshot_id: str
    state: str = "requested"
    message: str


class DesiredRuntime(BaseModel):
    """What the runtime side must converge on: the live deploy, env vars, a restore."""

    deploy_id: str | None
    seq: int | None
    image: str | None
    runtime_version: str
    airflow_version: str
    bundle_sha256: str | None
    dag_deploy_enabled: bool
    env_vars: dict[str, str]
    secret_keys: list[str]
    restore: SnapshotOut | None = None
    restore_location: str | None = None
    # Snapshots the server still lists; the runtime side may delete any other it holds.
    snapshot_locations: list[str] = Field(default_factory=list)
