"""A Deployment's safe-operations settings: change them (PATCH) and show them."""

from __future__ import annotations

from typing import Any

from tarmac.deployments.models import Deployment
from tarmac.deployments.schemas import DeploymentUpdate
from tarmac.safe_ops.freeze import parse_windows, stored_windows
from tarmac.safe_ops.schemas import FreezeWindowOut, HoldOut


def apply_safe_ops_settings(deployment: Deployment, changes: DeploymentUpdate) -> list[str]:
    """Apply the PATCH's safe-operations fields (validated first); the names changed."""
    changed: list[str] = []
    if changes.freeze_windows is not None:
        windows = [w.to_json() for w in parse_windows(changes.freeze_windows)]
        if windows != deployment.freeze_windows:
            deployment.freeze_windows = windows
            changed.append("freeze_windows")
    for field in ("rollback_hold_enabled", "auto_rollback_enabled", "auto_rollback_window_seconds"):
        value = getattr(changes, field)
        if value is not None and value != getattr(deployment, field):
            setattr(deployment, field, value)
            changed.append(field)
    return changed


def safe_ops_fields(deployment: Deployment) -> dict[str, Any]:
    """The Deployment JSON's ``hold``, ``freeze_windows`` and safe-operations settings."""
    hold = None
    if deployment.hold_deploy_id is not None and deployment.hold_set_at is not None:
        hold = HoldOut(
            deploy_id=deployment.hold_deploy_id,
            set_by=deployment.hold_set_by,
            reason=deployment.hold_reason,
            set_at=deployment.hold_set_at,
        )
    return {
        "hold": hold,
        "freeze_windows": [
            FreezeWindowOut(start=w.start, end=w.end, reason=w.reason, repeat=w.repeat)
            for w in stored_windows(deployment.freeze_windows)
        ],
        "rollback_hold_enabled": deployment.rollback_hold_enabled,
        "auto_rollback_enabled": deployment.auto_rollback_enabled,
        "auto_rollback_window_seconds": deployment.auto_rollback_window_seconds,
    }
