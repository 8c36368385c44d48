"""Helpers for the safe-operations tests: deploys with waivers, events, raw hold columns."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text

from tests.integration.rollback_setup import History
from tests.support.bundles import dag_file, make_bundle
from tests.support.server import Api


def plain_deploy(api: Api, history: History, marker: str, **fields: str) -> httpx.Response:
    """A DAG-only deploy with extra form fields (clear_hold, freeze_override_reason)."""
    bundle = make_bundle({"etl.py": dag_file("etl", marker=marker)})
    return api.post(
        f"/api/v1/deployments/{history.id}/deploys",
        data={"type": "DAG_ONLY", **fields},
        files={"dags": ("dags.tar.gz", bundle, "application/gzip")},
    )


def events(api: Api, action: str) -> list[dict[str, Any]]:
    installation = api.client.app.state.installation  # type: ignore[attr-defined]
    return [e for e in installation.event_log.read() if e["event"]["action"] == action]


def hold_columns(api: Api, deployment_id: str) -> tuple[Any, ...]:
    """The hold's four columns as stored, read past the ORM."""
    installation = api.client.app.state.installation  # type: ignore[attr-defined]
    with installation.database.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT hold_deploy_id, hold_set_by, hold_reason, hold_set_at"
                " FROM deployments WHERE id = :i"
            ),
            {"i": deployment_id},
        ).one()
    return tuple(row)


def deployment(api: Api, history: History) -> dict[str, Any]:
    return api.ok(api.get(f"/api/v1/deployments/{history.id}"))  # type: ignore[no-any-return]
