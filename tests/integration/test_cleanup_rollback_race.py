"""Cleanup and a concurrent rollback on PostgreSQL: they take the Deployment's lock in one
order, so the rollback either lands (its new deploy keeps the bundle) or finds its target
gone; never a deploy that fails on a foreign key the cleanup removed beneath it.

SQLite's single write lock serialises them already; this race exists on PostgreSQL only.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tarmac.cleanup.runner import run_cleanup
from tarmac.db.base import utcnow
from tarmac.deployments.models import Deployment
from tarmac.deploys.models import Deploy
from tests.integration.test_cleanup import bundle, deploy, installation_of, set_created_at
from tests.support.server import Api


def _waiting_for_a_lock(api: Api) -> bool:
    with installation_of(api).database.engine.connect() as conn:
        return bool(conn.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")))


def test_a_rollback_holding_the_lock_keeps_its_target_until_it_commits(
    api: Api, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite's one write lock already serialises cleanup and rollbacks")
    installation = installation_of(api)
    dep = api.new_deployment()
    target = deploy(api, dep["id"], bundle("v1"))
    deploy(api, dep["id"], bundle("v2"))
    set_created_at(api, target["id"], utcnow() - timedelta(days=30))

    rollback = Session(installation.database.engine)  # a rollback, under the lock
    locked = rollback.scalar(select(Deployment).where(Deployment.id == dep["id"]).with_for_update())
    assert locked is not None
    outcome: list[object] = []
    cleaner = threading.Thread(
        target=lambda: outcome.append(
            run_cleanup(
                installation,
                actor="test",
                older_than_days=7,
                dry_run=False,
                grace_seconds=0,
                on_batch=None,
            )
        )
    )
    cleaner.start()
    deadline = time.monotonic() + 60
    while not _waiting_for_a_lock(api):  # the cleanup waits for the Deployment's lock
        assert cleaner.is_alive(), "cleanup did not wait for the rollback's lock"
        assert time.monotonic() < deadline
        time.sleep(0.01)

    # The rollback records its new deploy, copying the target (the FK checks it exists).
    target_row = rollback.get(Deploy, target["id"])
    assert target_row is not None
    locked.last_deploy_seq += 1
    new = Deploy(
        deployment_id=dep["id"],
        seq=locked.last_deploy_seq,
        type=target_row.type,
        status="DEPLOYED",
        image=target_row.image,
        runtime_version=target_row.runtime_version,
        airflow_version=target_row.airflow_version,
        dag_deploy_enabled=target_row.dag_deploy_enabled,
        bundle_sha256=target_row.bundle_sha256,
        rollback_from_id=target_row.id,
        created_at=utcnow(),
    )
    rollback.add(new)
    rollback.flush()
    locked.current_deploy_id = new_id = new.id
    rollback.commit()
    rollback.close()
    cleaner.join(60)
    assert outcome, "cleanup failed"

    history = api.history(dep["id"])
    assert history[0]["id"] == new_id and history[0]["bundle_sha256"] == target["bundle_sha256"]
    assert target["id"] not in {d["id"] for d in history}  # expired, so it went afterwards
    blob = api.get(f"/api/v1/blobs/{target['bundle_sha256']}")
    assert blob.status_code == 200  # the live deploy's bundle stays
