"""safe operations: rollback hold, freeze windows, automatic rollback, bad marks

Revision ID: i17_safe_ops
Revises: i11_dag_import_check
Create Date: 2026-11-30 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tarmac.db.base

revision: str = "i17_safe_ops"
down_revision: str | None = "i11_dag_import_check"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = tarmac.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "rollback_hold_enabled", sa.Boolean(), nullable=False, server_default=sa.true()
            )
        )
        batch_op.add_column(sa.Column("hold_deploy_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("hold_set_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hold_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("hold_set_at", _TIME, nullable=True))
        batch_op.add_column(
            sa.Column("freeze_windows", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(
            sa.Column(
                "auto_rollback_enabled", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.add_column(
            sa.Column(
                "auto_rollback_window_seconds",
                sa.Integer(),
                nullable=False,
                server_default="1800",
            )
        )
    with op.batch_alter_table("deploys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("marked_bad_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("marked_bad_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("marked_bad_at", _TIME, nullable=True))
        batch_op.add_column(sa.Column("reached_healthy_at", _TIME, nullable=True))
        batch_op.add_column(
            sa.Column("automatic", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("auto_rolled_back_at", _TIME, nullable=True))
        batch_op.add_column(
            sa.Column("cleared_hold", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("freeze_override_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deploys", schema=None) as batch_op:
        for name in (
            "freeze_override_reason",
            "cleared_hold",
            "auto_rolled_back_at",
            "automatic",
            "reached_healthy_at",
            "marked_bad_at",
            "marked_bad_by",
            "marked_bad_reason",
        ):
            batch_op.drop_column(name)
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        for name in (
            "auto_rollback_window_seconds",
            "auto_rollback_enabled",
            "freeze_windows",
            "hold_set_at",
            "hold_reason",
            "hold_set_by",
            "hold_deploy_id",
            "rollback_hold_enabled",
        ):
            batch_op.drop_column(name)
