"""import gate: Deployment.dag_import_check, Deploy.dags and Deploy.import_check

Revision ID: i11_dag_import_check
Revises: i10_runtime_status
Create Date: 2026-11-30 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i11_dag_import_check"
down_revision: str | None = "i10_runtime_status"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "dag_import_check", sa.String(length=8), nullable=False, server_default="block"
            )
        )
    with op.batch_alter_table("deploys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dags", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("import_check", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deploys", schema=None) as batch_op:
        batch_op.drop_column("import_check")
        batch_op.drop_column("dags")
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_column("dag_import_check")
