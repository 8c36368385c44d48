"""deploys.in_use_until: versions a running DAG run still reads are kept by cleanup

Revision ID: i13_deploy_in_use_until
Revises: i13_ui_sessions
Create Date: 2026-11-30 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tarmac.db.base

revision: str = "i13_deploy_in_use_until"
down_revision: str | None = "i13_ui_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deploys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("in_use_until", tarmac.db.base.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("deploys", schema=None) as batch_op:
        batch_op.drop_column("in_use_until")
