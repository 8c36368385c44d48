"""git metadata of deploys, webhooks and their delivery log (issue 18)

Revision ID: i18_insight
Revises: i17_safe_ops
Create Date: 2026-11-30 03:52:48.723873
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tarmac.db.base

revision: str = "i18_insight"
down_revision: str | None = "i17_safe_ops"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("deployment_id", sa.String(length=32), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("payload_format", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", tarmac.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_webhooks_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhooks_deployment_id"), ["deployment_id"], unique=False
        )

    op.create_table(
        "deploy_git",
        sa.Column("deploy_id", sa.String(length=32), nullable=False),
        sa.Column("commit", sa.String(length=40), nullable=False),
        sa.Column("branch", sa.String(length=255), nullable=True),
        sa.Column("remote_url", sa.String(length=1024), nullable=True),
        sa.Column("author", sa.String(length=255), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("committed_at", tarmac.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["deploy_id"],
            ["deploys.id"],
            name=op.f("fk_deploy_git_deploy_id_deploys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("deploy_id", name=op.f("pk_deploy_git")),
    )
    with op.batch_alter_table("deploy_git", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deploy_git_commit"), ["commit"], unique=False)

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("webhook_id", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_name", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", tarmac.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", tarmac.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", tarmac.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name=op.f("fk_webhook_deliveries_webhook_id_webhooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint(
            "webhook_id", "event_id", name=op.f("uq_webhook_deliveries_webhook_id_event_id")
        ),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_deliveries_next_attempt_at"), ["next_attempt_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_webhook_deliveries_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_webhook_deliveries_webhook_id"), ["webhook_id"], unique=False
        )

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("webhooks_at", tarmac.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_events_webhooks_at"), ["webhooks_at"], unique=False)
    # Events from before webhooks existed are never delivered.
    op.execute(sa.text("UPDATE events SET webhooks_at = created_at"))


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_webhooks_at"))
        batch_op.drop_column("webhooks_at")

    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_deliveries_webhook_id"))
        batch_op.drop_index(batch_op.f("ix_webhook_deliveries_status"))
        batch_op.drop_index(batch_op.f("ix_webhook_deliveries_next_attempt_at"))

    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("deploy_git", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deploy_git_commit"))

    op.drop_table("deploy_git")
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhooks_deployment_id"))

    op.drop_table("webhooks")
