"""Deploy records and the bundles they reference."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from tarmac.db.base import ID, Base, UTCDateTime, new_id, utcnow

if TYPE_CHECKING:
    from tarmac.deployments.models import Deployment


class BundleRecord(Base):
    """A stored DAG bundle: its sha256, size and file manifest (for diffs)."""

    __tablename__ = "bundles"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    manifest: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Deploy(Base):
    """One immutable entry of a Deployment's deploy history."""

    __tablename__ = "deploys"
    __table_args__ = (
        UniqueConstraint("deployment_id", "seq"),
        UniqueConstraint("deployment_id", "created_by_id", "idempotency_key"),
        Index("ix_deploys_created_at", "created_at"),
        Index("ix_deploys_created_by_id_idempotency_key", "created_by_id", "idempotency_key"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(Text)
    image: Mapped[str | None] = mapped_column(String(512))
    runtime_version: Mapped[str] = mapped_column(String(32))
    airflow_version: Mapped[str] = mapped_column(String(32))
    dag_deploy_enabled: Mapped[bool] = mapped_column(Boolean)
    bundle_sha256: Mapped[str | None] = mapped_column(ForeignKey("bundles.sha256"), index=True)
    rollback_from_id: Mapped[str | None] = mapped_column(
        ForeignKey("deploys.id", ondelete="SET NULL"), index=True
    )
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    # sha256 of what the key was first used for (endpoint, Deployment, body, bundle).
    idempotency_fingerprint: Mapped[str | None] = mapped_column(String(64))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    # What the target Airflow found in the bundle (import gate): {dag_id: file}, and the
    # check's outcome with its errors; None on deploys made before the gate existed.
    dags: Mapped[dict[str, str] | None] = mapped_column(JSON)
    import_check: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Until when a running Airflow 3 DAG run still reads this version (the bundle reports it).
    in_use_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Safe operations (tarmac.safe_ops): a bad mark, the runtime's health, what was waived.
    marked_bad_reason: Mapped[str | None] = mapped_column(Text)
    marked_bad_by: Mapped[str | None] = mapped_column(String(64))
    marked_bad_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set by the runtime side's report once this deploy ran healthy; null: unknown.
    reached_healthy_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_rolled_back_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cleared_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    freeze_override_reason: Mapped[str | None] = mapped_column(Text)
    git_record: Mapped[DeployGit | None] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True
    )


def live_deploy(session: Session, deployment: Deployment) -> Deploy | None:
    """The deploy whose code is live on ``deployment`` (None before the first one)."""
    if deployment.current_deploy_id is None:
        return None
    return session.get(Deploy, deployment.current_deploy_id)


class DeployGit(Base):
    """The Git commit a deploy's code came from (issue 18); absent when unknown."""

    __tablename__ = "deploy_git"

    deploy_id: Mapped[str] = mapped_column(
        ForeignKey("deploys.id", ondelete="CASCADE"), primary_key=True
    )
    commit: Mapped[str] = mapped_column(String(40), index=True)
    branch: Mapped[str | None] = mapped_column(String(255))
    remote_url: Mapped[str | None] = mapped_column(String(1024))
    author: Mapped[str | None] = mapped_column(String(255))
    message: Mapped[str | None] = mapped_column(Text)
    committed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
