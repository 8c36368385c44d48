"""runtime status reported by the runtime side, metadata snapshots

Revision ID: i10_runtime_status
Revises: 0003
Create Date: 2026-11-30 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tarmac.db.base

revision: str = "i10_runtime_status"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "runtime_status",
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("reached_deploy_id", sa.String(length=32), nullable=True),
        sa.Column("rollout_deploy_id", sa.String(length=32), nullable=True),
        sa.Column("airflow_version", sa.String(length=32), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("metadata_facts", sa.JSON(), nullable=False),
        sa.Column("restore_snapshot_id", sa.String(length=32), nullable=True),
        sa.Column("reported_at", tarmac.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_runtime_status_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("deployment_id", name=op.f("pk_runtime_status")),
    )
    op.create_table(
        "metadata_snapshots",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("deploy_id", sa.String(length=32), nullable=True),
        sa.Column("airflow_version", sa.String(length=32), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("created_at", tarmac.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("restored_at", tarmac.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["deploy_id"],
            ["deploys.id"],
            name=op.f("fk_metadata_snapshots_deploy_id_deploys"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_metadata_snapshots_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metadata_snapshots")),
    )
    op.create_index("ix_metadata_snapshots_deployment_id", "metadata_snapshots", ["deployment_id"])
    op.create_index("ix_metadata_snapshots_deploy_id", "metadata_snapshots", ["deploy_id"])


def downgrade() -> None:
    op.drop_index("ix_metadata_snapshots_deploy_id", table_name="metadata_snapshots")
    op.drop_index("ix_metadata_snapshots_deployment_id", table_name="metadata_snapshots")
    op.drop_table("metadata_snapshots")
    op.drop_table("runtime_status")
