"""deployments.current_deploy_id indexed: deleting a deploy no longer scans every Deployment

Both databases check the foreign key from ``deployments.current_deploy_id`` for each
deploy deleted (cleanup deletes them by the million); without an index that is a scan of
the Deployments table per deploy.

Revision ID: i12perf_current_deploy_index
Revises: i17e2e_runtime_import_errors
Create Date: 2026-11-30 08:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "i12perf_current_deploy_index"
down_revision: str | None = "i17e2e_runtime_import_errors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deployments_current_deploy_id"), ["current_deploy_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployments_current_deploy_id"))
