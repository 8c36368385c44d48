"""Request and response shapes of the cleanup API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CleanupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    older_than_days: int | None = Field(default=None, ge=0, le=36_500)
    dry_run: bool = False
    # For operators and tests: how old an unreferenced bundle record must be to go.
    grace_seconds: float | None = Field(default=None, ge=0, le=30 * 86_400)


class CleanupOut(BaseModel):
    deleted_deploys: int
    deleted_blobs: int
    dry_run: bool
    older_than_days: int
    deleted_bundle_records: int
    deleted_unpacked_dirs: int
    kept_in_use_bundles: int
    duration_seconds: float
