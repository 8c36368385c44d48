"""The cleanup's batches, set-based: dependents of deleted deploys, many batches, both databases."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import ForeignKey, select, text

from tarmac.bundles.blob_store import LocalBlobStore
from tarmac.cleanup.revisions import DEPENDENTS
from tarmac.cleanup.service import cleanup_deploy_revisions
from tarmac.db.base import Base, new_id, utcnow
from tarmac.db.engine import make_engine
from tarmac.db.migrate import upgrade_to_head
from tarmac.db.unit_of_work import Database
from tarmac.deployments.models import Deployment
from tarmac.deploys.models import BundleRecord, Deploy, DeployGit
from tarmac.rollouts.models import MetadataSnapshot

OLD = 200  # days
EXPIRED = 25


def test_every_foreign_key_to_a_deploy_is_handled_by_the_batch() -> None:
    """A new table pointing at deploys must join DEPENDENTS, or SQLite batches would leave
    its rows pointing at deleted deploys (they delete with foreign keys off)."""
    handled = {(c.class_.__tablename__, c.key): action for c, action in DEPENDENTS}
    found = {}
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_keys:
            assert isinstance(fk, ForeignKey)
            if fk.column.table.name == "deploys":
                found[(table.name, fk.parent.name)] = (fk.ondelete or "").lower()
    # A live deploy is never expired, so the Deployment's pointer never needs an action.
    assert found.pop(("deployments", "current_deploy_id")) == "set null"
    assert found == handled


def test_batches_delete_dependents_and_keep_live_pinned_and_their_links(
    database_url: str, tmp_path: Path
) -> None:
    database = Database(make_engine(database_url))
    upgrade_to_head(database.engine)
    now = utcnow()
    with database.session(write=True) as session:
        session.add(BundleRecord(sha256="a" * 64, size=1, manifest=[], created_at=now))
        deployment = Deployment(
            name="batches",
            release_name="batches-1",
            runtime_version="12.4.0",
            airflow_version="2.10.4",
            executor="CeleryExecutor",
            dag_deploy_mode="dag_deploy",
            resources={},
        )
        session.add(deployment)
        session.flush()
        ids = [new_id() for _ in range(EXPIRED + 1)]
        for seq, deploy_id in enumerate(ids, start=1):
            live = seq == len(ids)
            session.add(
                Deploy(
                    id=deploy_id,
                    deployment_id=deployment.id,
                    seq=seq,
                    type="DAG_ONLY",
                    status="DEPLOYED",
                    runtime_version="12.4.0",
                    airflow_version="2.10.4",
                    dag_deploy_enabled=True,
                    bundle_sha256="a" * 64,
                    # Every deploy a rollback to the one before: links across batches.
                    rollback_from_id=ids[seq - 2] if seq > 1 else None,
                    pinned=seq == 10,
                    created_at=now - timedelta(days=1 if live else OLD, seconds=-seq),
                )
            )
            session.flush()
            session.add(DeployGit(deploy_id=deploy_id, commit=f"{seq:040d}"))
            session.add(
                MetadataSnapshot(
                    deployment_id=deployment.id,
                    deploy_id=deploy_id,
                    airflow_version="2.10.4",
                    size_bytes=1,
                    location=f"snap-{seq}",
                )
            )
        deployment.current_deploy_id = ids[-1]
        session.commit()

    report = cleanup_deploy_revisions(
        database=database,
        blob_store=LocalBlobStore(tmp_path / "blobs"),
        bundles_dir=tmp_path / "bundles",
        older_than_days=90,
        dry_run=False,
        actor="test",
        batch_size=3,  # many batches, with a link from each batch into the one before
    )

    kept = {ids[9], ids[-1]}  # the pinned one and the live one
    assert report.deleted_deploys == len(ids) - len(kept)
    with database.session() as session:
        deploys = {d.id: d for d in session.scalars(select(Deploy))}
        assert set(deploys) == kept
        # Their links to deleted deploys are cleared; their own dependents are intact.
        assert deploys[ids[9]].rollback_from_id is None
        assert deploys[ids[-1]].rollback_from_id is None
        assert set(session.scalars(select(DeployGit.deploy_id))) == kept
        snapshots = {s.location: s.deploy_id for s in session.scalars(select(MetadataSnapshot))}
        # Snapshots of deleted deploys went with them (their link cleared, then pruned).
        assert snapshots == {"snap-10": ids[9], f"snap-{len(ids)}": ids[-1]}
        if database.engine.dialect.name == "sqlite":
            # Nothing points at a missing row, and every pooled connection enforces
            # foreign keys, flushes commits, checkpoints the log itself and keeps SQLite's
            # default page cache and temp store again, with no table of theirs left (the
            # batches changed all five on theirs).
            assert session.execute(text("PRAGMA foreign_key_check")).all() == []
    if database.engine.dialect.name == "sqlite":
        connections = [database.engine.connect() for _ in range(3)]
        try:
            for connection in connections:
                assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
                assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
                assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == -2000
                assert connection.exec_driver_sql("PRAGMA temp_store").scalar() == 0
                temp_tables = "SELECT name FROM sqlite_temp_master WHERE type = 'table'"
                assert connection.exec_driver_sql(temp_tables).all() == []
        finally:
            for connection in connections:
                connection.close()
    database.dispose()
