"""The Deployment and its environment variables."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tarmac.db.base import ID, Base, UTCDateTime, new_id, utcnow

if TYPE_CHECKING:
    from tarmac.rollouts.models import RuntimeStatus


class Deployment(Base):
    __tablename__ = "deployments"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    release_name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    runtime_version: Mapped[str] = mapped_column(String(32))
    airflow_version: Mapped[str] = mapped_column(String(32))
    executor: Mapped[str] = mapped_column(String(32))
    dag_deploy_mode: Mapped[str] = mapped_column(String(16))
    rollback_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    dag_import_check: Mapped[str] = mapped_column(String(8), default="block")
    resources: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    current_deploy_id: Mapped[str | None] = mapped_column(
        ForeignKey("deploys.id", use_alter=True, ondelete="SET NULL"), index=True
    )
    # The last sequence number handed out; bumped under the Deployment's deploy lock.
    last_deploy_seq: Mapped[int] = mapped_column(Integer, default=0)
    # Safe operations (tarmac.safe_ops): the hold after a rollback, freeze windows, and
    # automatic rollback. The hold's four fields change together under the deploy lock.
    rollback_hold_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    hold_deploy_id: Mapped[str | None] = mapped_column(ID)
    hold_set_by: Mapped[str | None] = mapped_column(String(64))
    hold_reason: Mapped[str | None] = mapped_column(Text)
    hold_set_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    freeze_windows: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    auto_rollback_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_rollback_window_seconds: Mapped[int] = mapped_column(Integer, default=1800)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    env_vars: Mapped[list[EnvVar]] = relationship(
        order_by="EnvVar.position", cascade="all, delete-orphan", lazy="selectin"
    )
    # What its runtime side last reported (tarmac.rollouts); read-only from here.
    runtime_status: Mapped[RuntimeStatus | None] = relationship(viewonly=True)


class EnvVar(Base):
    """One environment variable; a secret's value is stored encrypted."""

    __tablename__ = "deployment_env_vars"
    __table_args__ = (UniqueConstraint("deployment_id", "key"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    deployment_id: Mapped[str] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(Text)
    is_secret: Mapped[bool] = mapped_column(Boolean, default=False)
