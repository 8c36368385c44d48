"""The runtime side's own record of what it reached and of a rollout under way.

Written atomically before each irreversible step, so that a runtime side killed at any
point knows on restart whether the metadata database must be restored from the
snapshot taken for the rollout it was in.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Reached:
    """A deploy's runtime as this host runs it."""

    deploy_id: str
    airflow_version: str
    image: str | None
    env_digest: str
    bundle_sha256: str | None
    dag_deploy_enabled: bool
    settings_digest: str
    # The deploy's own requirements.txt that its environment holds (none: plain Airflow).
    requirements: tuple[str, ...] = ()

    def keeps_image_of(self, image: str | None, airflow_version: str) -> bool:
        """Whether a deploy of ``image`` on ``airflow_version`` keeps this one's image side.

        Such a deploy (a DAG-only one) keeps the environment that runs, requirements
        included, whatever requirements.txt its own bundle carries.
        """
        return self.image == image and self.airflow_version == airflow_version

    def same_runtime(self, other: Reached) -> bool:
        """Whether only the DAGs differ (a DAG-only change restarts nothing)."""
        return (
            self.airflow_version == other.airflow_version
            and self.image == other.image
            and self.env_digest == other.env_digest
            and self.settings_digest == other.settings_digest
        )

    def live_dags(self) -> Any:
        """The DAGs this deploy runs, as the live folder switches to them."""
        from tarmac.agent.client import LiveDags

        return LiveDags(self.deploy_id, self.bundle_sha256, self.dag_deploy_enabled)


def settings_digest(env_vars: dict[str, str]) -> str:
    """What a change of the Deployment's environment variables is recognised by."""
    return hashlib.sha256(json.dumps(env_vars, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class InProgress:
    deploy_id: str
    step: str
    snapshot_location: str | None = None
    snapshot_airflow_version: str | None = None


@dataclass(frozen=True)
class JournalState:
    reached: Reached | None
    in_progress: InProgress | None
    failed_deploy_ids: tuple[str, ...] = ()


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> JournalState:
        try:
            data: dict[str, Any] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return JournalState(None, None)
        reached = data.get("reached")
        progress = data.get("in_progress")
        return JournalState(
            reached=_reached(reached) if reached else None,
            in_progress=InProgress(**progress) if progress else None,
            failed_deploy_ids=tuple(data.get("failed_deploy_ids") or ()),
        )

    def write(self, state: JournalState) -> None:
        data = {
            "reached": asdict(state.reached) if state.reached else None,
            "in_progress": asdict(state.in_progress) if state.in_progress else None,
            "failed_deploy_ids": list(state.failed_deploy_ids[-50:]),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with tmp.open("w") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)


def _reached(data: dict[str, Any]) -> Reached:
    return Reached(**{**data, "requirements": tuple(data.get("requirements") or ())})
