"""Domain events: collected on the unit of work, dispatched once it commits."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeployFinished:
    """A deploy or rollback ended; on success its code is live (agents are woken)."""

    deployment_id: str
    kind: str  # deploy | rollback
    outcome: str  # success | failure
    seconds: float

    @property
    def went_live(self) -> bool:
        return self.outcome == "success"


@dataclass(frozen=True)
class CleanupFinished:
    """A cleanup run ended (its deletions were committed batch by batch)."""

    outcome: str  # success | failure
    dry_run: bool
    deleted_deploys: int
    deleted_blobs: int


@dataclass(frozen=True)
class LiveDeployRestored:
    """A failed rollout made an earlier deploy live again (agents are woken)."""

    deployment_id: str


DomainEvent = DeployFinished | CleanupFinished | LiveDeployRestored
