"""A deploy's code state: one value for deploys, rollbacks, the runtime backend and the API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from tarmac.deploys.schemas import DeployType


@dataclass(frozen=True)
class CodeState:
    """What a deploy makes live: image, runtime (and its Airflow), DAG deploy setting, bundle."""

    image: str | None
    runtime_version: str
    airflow_version: str
    dag_deploy_enabled: bool
    bundle_sha256: str | None

    @classmethod
    def of(cls, source: object) -> CodeState:
        """The code state of anything that carries its fields (a Deploy, facts, a spec)."""
        return cls(**{f.name: getattr(source, f.name) for f in fields(cls)})

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CodeState:
        return cls(
            image=data.get("image"),
            runtime_version=str(data["runtime_version"]),
            airflow_version=str(data["airflow_version"]),
            dag_deploy_enabled=bool(data["dag_deploy_enabled"]),
            bundle_sha256=data.get("bundle_sha256"),
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def changes_image(self, live: CodeState | None) -> bool:
        """True if making this state live replaces the image side: image, runtime, DAG setting."""
        return live is None or (
            self.image,
            self.runtime_version,
            self.airflow_version,
            self.dag_deploy_enabled,
        ) != (live.image, live.runtime_version, live.airflow_version, live.dag_deploy_enabled)

    def changes_dags(self, live: CodeState | None) -> bool:
        return live is None or self.bundle_sha256 != live.bundle_sha256

    def deploy_type_over(self, live: CodeState | None) -> DeployType:
        """The type of a deploy that replaces ``live`` with this state: what it really changes.

        A rollback records this rather than its target's type. A state equal to the live one
        is never deployed (the policy refuses it as already current).
        """
        if not self.changes_image(live):
            return DeployType.DAG_ONLY
        if self.changes_dags(live):
            return DeployType.IMAGE_AND_DAG
        return DeployType.IMAGE_ONLY
