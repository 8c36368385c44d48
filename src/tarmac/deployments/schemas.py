"""Request and response shapes of the Deployments API."""

from __future__ import annotations

import json
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from tarmac.import_checks.gate import DagImportCheck
from tarmac.safe_ops.schemas import FreezeWindowOut, HoldOut

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _printable(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def no_nul(value: str) -> str:
    """Free text may span lines, but a NUL is never text (and PostgreSQL refuses it)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _small_json(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value)) > 16_384:
        raise ValueError("must be at most 16 KiB of JSON")
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_printable),
]
Description = Annotated[str, StringConstraints(max_length=2000), AfterValidator(no_nul)]
EnvKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")]
Resources = Annotated[dict[str, Any], AfterValidator(_small_json)]


class DagDeployMode(StrEnum):
    IMAGE = "image"
    DAG_DEPLOY = "dag_deploy"
    NFS = "nfs"
    GIT_SYNC = "git_sync"


class Executor(StrEnum):
    CELERY = "CeleryExecutor"
    KUBERNETES = "KubernetesExecutor"
    LOCAL = "LocalExecutor"
    CELERY_KUBERNETES = "CeleryKubernetesExecutor"


class EnvVarIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: EnvKey
    # None on an existing secret keeps its stored value (secrets are write-only).
    value: Annotated[str, StringConstraints(max_length=65_536), AfterValidator(no_nul)] | None = (
        None
    )
    is_secret: bool = False


class EnvVarOut(BaseModel):
    key: str
    value: str | None
    is_secret: bool


class DeploymentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description | None = None
    runtime_version: Annotated[str, StringConstraints(max_length=32)]
    executor: Executor = Executor.CELERY
    dag_deploy_mode: DagDeployMode
    resources: Resources = Field(default_factory=dict)
    env_vars: list[EnvVarIn] = Field(default_factory=list, max_length=1000)


class DeploymentUpdate(BaseModel):
    """Settings a PATCH may change; runtime and DAG deploy mode change only by deploys."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None
    executor: Executor | None = None
    resources: Resources | None = None
    env_vars: list[EnvVarIn] | None = Field(default=None, max_length=1000)
    rollback_enabled: bool | None = None
    dag_import_check: DagImportCheck | None = None
    # Safe operations (tarmac.safe_ops); freeze windows are validated by the service.
    freeze_windows: list[Any] | None = Field(default=None, max_length=100)
    rollback_hold_enabled: bool | None = None
    auto_rollback_enabled: bool | None = None
    auto_rollback_window_seconds: int | None = Field(default=None, ge=60, le=7 * 86_400)


class DeploymentOut(BaseModel):
    id: str
    name: str
    release_name: str
    description: str | None
    runtime_version: str
    airflow_version: str
    executor: str
    dag_deploy_mode: str
    rollback_enabled: bool
    dag_import_check: str
    resources: dict[str, Any]
    env_vars: list[EnvVarOut]
    current_deploy_id: str | None
    created_at: datetime
    updated_at: datetime
    hold: HoldOut | None = None
    freeze_windows: list[FreezeWindowOut] = Field(default_factory=list)
    rollback_hold_enabled: bool = True
    auto_rollback_enabled: bool = False
    auto_rollback_window_seconds: int = 1800


class DeploymentList(BaseModel):
    items: list[DeploymentOut]


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str


class MemberOut(BaseModel):
    deployment_id: str
    user_id: str
    role: str
