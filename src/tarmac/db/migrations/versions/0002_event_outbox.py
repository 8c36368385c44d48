"""event outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 07:04:36.487135
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tarmac.db.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("created_at", tarmac.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("logged_at", tarmac.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("exported_at", tarmac.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_exported_at"), ["exported_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_logged_at"), ["logged_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_logged_at"))
        batch_op.drop_index(batch_op.f("ix_events_exported_at"))
        batch_op.drop_index(batch_op.f("ix_events_created_at"))

    op.drop_table("events")
