"""Plain facts the rollback policy decides on, copied out of the database by the service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tarmac.deployments.schemas import DagDeployMode
from tarmac.deploys.code_state import CodeState
from tarmac.deploys.schemas import DeployStatus


@dataclass(frozen=True)
class DeploymentFacts:
    """A Deployment's settings, as the policy sees them."""

    id: str
    name: str
    description: str | None
    executor: str
    resources: Mapping[str, Any]
    env_var_keys: tuple[str, ...]
    dag_deploy_mode: DagDeployMode
    rollback_enabled: bool
    runtime_version: str
    # What the runtime side last saw in the metadata database (row counts); {} if unknown.
    metadata_facts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MarkedBad:
    """Someone marked a deploy bad: who, when and why."""

    reason: str
    by: str | None
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"reason": self.reason, "by": self.by, "at": self.at.isoformat()}


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
    status: DeployStatus = DeployStatus.DEPLOYED
    # {dag_id: file} as the import gate found it; None when the deploy was never checked.
    dags: Mapping[str, str] | None = None
    marked_bad: MarkedBad | None = None

    def __post_init__(self) -> None:
        # Age is compared with an aware ``now``; a naive time would shift by the UTC offset.
        if self.created_at.tzinfo is None:
            raise ValueError("DeployFacts.created_at must be timezone-aware")

    @property
    def code_state(self) -> CodeState:
        return CodeState.of(self)
