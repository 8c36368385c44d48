"""The runtime side's HTTP access to the server: the desired state in, reports out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tarmac.agent.client import LiveCodeClient, LiveDags, ServerUnavailable


@dataclass(frozen=True)
class Desired:
    """What the server says must run (``GET …/runtime/desired``)."""

    deploy_id: str | None
    seq: int | None
    image: str | None
    runtime_version: str
    airflow_version: str
    bundle_sha256: str | None
    dag_deploy_enabled: bool
    env_vars: dict[str, str]
    secret_keys: tuple[str, ...]
    restore_snapshot_id: str | None
    restore_location: str | None
    snapshot_locations: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Desired:
        restore = data.get("restore") or {}
        return cls(
            deploy_id=data.get("deploy_id"),
            seq=data.get("seq"),
            image=data.get("image"),
            runtime_version=str(data["runtime_version"]),
            airflow_version=str(data["airflow_version"]),
            bundle_sha256=data.get("bundle_sha256"),
            dag_deploy_enabled=bool(data.get("dag_deploy_enabled")),
            env_vars=dict(data.get("env_vars") or {}),
            secret_keys=tuple(data.get("secret_keys") or ()),
            restore_snapshot_id=restore.get("id"),
            restore_location=data.get("restore_location"),
            snapshot_locations=tuple(data.get("snapshot_locations") or ()),
        )

    def live_dags(self) -> LiveDags:
        return LiveDags(
            deploy_id=self.deploy_id,
            bundle_sha256=self.bundle_sha256,
            dag_deploy_enabled=self.dag_deploy_enabled,
        )


class RuntimeClient(LiveCodeClient):
    """A :class:`LiveCodeClient` (long polls, bundle downloads) that also reports."""

    def desired(self) -> Desired:
        response = self._send("GET", f"/api/v1/deployments/{self.deployment_id}/runtime/desired")
        return Desired.from_json(response.json())

    def report(self, report: dict[str, Any]) -> None:
        self._send("PUT", f"/api/v1/deployments/{self.deployment_id}/runtime", json=report)

    def add_snapshot(
        self, *, deploy_id: str | None, airflow_version: str, size_bytes: int, location: str
    ) -> str:
        response = self._send(
            "POST",
            f"/api/v1/deployments/{self.deployment_id}/snapshots",
            json={
                "deploy_id": deploy_id,
                "airflow_version": airflow_version,
                "size_bytes": size_bytes,
                "location": location,
            },
        )
        return str(response.json()["id"])

    def wait_for_change(self, etag: str | None, *, wait_seconds: float) -> str | None:
        """Long-poll the live deploy; the new ETag (or the same one after ``wait_seconds``)."""
        try:
            live = self.current(etag=etag, wait_seconds=wait_seconds)
        except httpx.HTTPError as exc:  # pragma: no cover - transport errors are wrapped
            raise ServerUnavailable(str(exc)) from exc
        return etag if live is None else live.etag
