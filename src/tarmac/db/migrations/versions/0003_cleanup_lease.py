"""cleanup lease, index on deploys.rollback_from_id

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tarmac.db.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", tarmac.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    with op.batch_alter_table("deploys", schema=None) as batch_op:
        batch_op.create_index("ix_deploys_rollback_from_id", ["rollback_from_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deploys", schema=None) as batch_op:
        batch_op.drop_index("ix_deploys_rollback_from_id")

    op.drop_table("leases")
