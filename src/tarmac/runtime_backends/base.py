"""The runtime backend interface: make a code state live, and say which one is live."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class LiveSpec:
    """The code state a runtime backend makes live for one Deployment."""

    deploy_id: str
    seq: int
    image: str | None
    runtime_version: str
    airflow_version: str
    dag_deploy_enabled: bool
    bundle_sha256: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LiveSpec:
        return cls(
            deploy_id=str(data["deploy_id"]),
            seq=int(data["seq"]),
            image=data.get("image"),
            runtime_version=str(data["runtime_version"]),
            airflow_version=str(data["airflow_version"]),
            dag_deploy_enabled=bool(data["dag_deploy_enabled"]),
            bundle_sha256=data.get("bundle_sha256"),
        )


class RuntimeBackend(Protocol):
    """Makes code live. Must be idempotent: recovery re-applies the recorded live state."""

    def prepare(self, bundle_sha256: str | None) -> None:
        """Slow, idempotent work done before the Deployment is locked (unpacking)."""

    def make_live(self, *, release_name: str, spec: LiveSpec) -> None:
        """Switch the Deployment to ``spec``; on error the previous state stays live."""

    def live_spec(self, *, release_name: str) -> LiveSpec | None:
        """The state that is live now, or None if nothing was ever made live."""
