"""Plain facts the rollback policy decides on, copied out of the database by the service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

CodeState = tuple[str | None, str, str | None, bool]
"""What a deploy makes live: image, runtime version, DAG bundle sha256, DAG deploy setting."""


@dataclass(frozen=True)
class DeploymentFacts:
    """A Deployment's settings; ``dag_deploy_mode`` is image, dag_deploy, nfs or git_sync."""

    id: str
    name: str
    description: str | None
    executor: str
    resources: Mapping[str, Any]
    env_var_keys: tuple[str, ...]
    dag_deploy_mode: str
    rollback_enabled: bool
    runtime_version: str


@dataclass(frozen=True)
class DeployFacts:
    """One deploy of the history, with its full (inherited) code state."""

    id: str
    deployment_id: str
    seq: int
    image: str | None
    runtime_version: str
    airflow_version: str
    dag_deploy_enabled: bool
    bundle_sha256: str | None
    created_at: datetime
    pinned: bool = False
    status: str = "DEPLOYED"

    def __post_init__(self) -> None:
        # Age is compared with an aware ``now``; a naive time would shift by the UTC offset.
        if self.created_at.tzinfo is None:
            raise ValueError("DeployFacts.created_at must be timezone-aware")

    @property
    def code_state(self) -> CodeState:
        return (self.image, self.runtime_version, self.bundle_sha256, self.dag_deploy_enabled)
