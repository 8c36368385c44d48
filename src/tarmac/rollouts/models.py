"""What the runtime side last reported per Deployment, and the metadata snapshots it took."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tarmac.db.base import ID, Base, UTCDateTime, new_id, utcnow


class RuntimeStatus(Base):
    """The actual state of one Deployment's runtime, as its runtime side last reported it."""

    __tablename__ = "runtime_status"

    deployment_id: Mapped[str] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True
    )
    # The deploy whose code the runtime runs now (None: nothing reached yet).
    reached_deploy_id: Mapped[str | None] = mapped_column(String(32))
    # The deploy the runtime side is working towards while a rollout is under way.
    rollout_deploy_id: Mapped[str | None] = mapped_column(String(32))
    airflow_version: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="unknown")
    components: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)
    # Row counts and downgrade risks of the metadata database, as the runtime side sees it.
    metadata_facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The live DAG files Airflow failed to import: [{file, error, new}] (None: not reported).
    import_errors: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # Since when the reached deploy's components have been reported unhealthy, unbroken.
    unhealthy_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    restore_snapshot_id: Mapped[str | None] = mapped_column(String(32))
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MetadataSnapshot(Base):
    """A copy of a Deployment's Airflow metadata database, taken before a version change."""

    __tablename__ = "metadata_snapshots"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    deployment_id: Mapped[str] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    # The deploy whose rollout took it; cleanup of that deploy lets the snapshot go.
    deploy_id: Mapped[str | None] = mapped_column(
        ForeignKey("deploys.id", ondelete="SET NULL"), index=True
    )
    # The Airflow version whose schema the copy holds (the one that ran before the change).
    airflow_version: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    location: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    restored_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
