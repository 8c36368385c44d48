"""runtime_status.import_errors and unhealthy_since: the automatic rollback's signals

The DAG files Airflow failed to import, as last reported; since when the reported
components have been unhealthy without a break.

Revision ID: i17e2e_runtime_import_errors
Revises: i13_deploy_in_use_until
Create Date: 2026-11-30 07:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tarmac.db.base

revision: str = "i17e2e_runtime_import_errors"
down_revision: str | None = "i13_deploy_in_use_until"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runtime_status", schema=None) as batch_op:
        batch_op.add_column(sa.Column("import_errors", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("unhealthy_since", tarmac.db.base.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("runtime_status", schema=None) as batch_op:
        batch_op.drop_column("unhealthy_since")
        batch_op.drop_column("import_errors")
