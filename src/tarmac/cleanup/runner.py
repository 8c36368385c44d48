"""Run the cleanup for one installation: its stores, flags and settings."""

from __future__ import annotations

from collections.abc import Callable

from tarmac.cleanup.service import (
    DEFAULT_GRACE_SECONDS,
    CleanupReport,
    cleanup_deploy_revisions,
    in_use_window,
)
from tarmac.events.domain import CleanupFinished
from tarmac.installation.context import Installation


def run_cleanup(
    installation: Installation,
    *,
    actor: str | None,
    older_than_days: int | None = None,
    dry_run: bool = False,
    grace_seconds: float | None = None,
    on_batch: Callable[[], None] | None = None,
) -> CleanupReport:
    """Clean up with the installation's defaults: ``olderThan`` from values.yaml."""
    grace = DEFAULT_GRACE_SECONDS if grace_seconds is None else grace_seconds
    try:
        report = _run(
            installation,
            actor=actor,
            older_than_days=older_than_days,
            dry_run=dry_run,
            grace=grace,
            on_batch=on_batch,
        )
    except Exception:
        installation.database.dispatch([CleanupFinished("failure", dry_run, 0, 0)])
        raise
    finally:
        installation.after_commit()  # the event, and any batch's, reach the event log
    installation.database.dispatch(
        [CleanupFinished("success", dry_run, report.deleted_deploys, report.deleted_blobs)]
    )
    return report


def _run(
    installation: Installation,
    *,
    actor: str | None,
    older_than_days: int | None,
    dry_run: bool,
    grace: float,
    on_batch: Callable[[], None] | None,
) -> CleanupReport:
    return cleanup_deploy_revisions(
        database=installation.database,
        blob_store=installation.blob_store,
        bundles_dir=installation.data_dir / "bundles",
        older_than_days=(
            installation.flags.cleanup_older_than_days
            if older_than_days is None
            else older_than_days
        ),
        dry_run=dry_run,
        actor=actor,
        grace_seconds=grace,
        in_use_seconds=in_use_window(
            grace_seconds=grace,
            deploy_lock_timeout_seconds=installation.settings.deploy_lock_timeout_seconds,
        ),
        on_batch=on_batch,
    )
