"""deploys.idempotency_fingerprint: an Idempotency-Key is bound to its first request

Revision ID: i13_idempotency_fingerprint
Revises: i18_insight
Create Date: 2026-11-30 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i13_idempotency_fingerprint"
down_revision: str | None = "i18_insight"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deploys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_fingerprint", sa.String(length=64)))
        batch_op.create_index(
            "ix_deploys_created_by_id_idempotency_key",
            ["created_by_id", "idempotency_key"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("deploys", schema=None) as batch_op:
        batch_op.drop_index("ix_deploys_created_by_id_idempotency_key")
        batch_op.drop_column("idempotency_fingerprint")
