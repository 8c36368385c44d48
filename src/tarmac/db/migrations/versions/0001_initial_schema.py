"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 07:03:48.509580
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tarmac.db.base

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bundles",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("created_at", tarmac.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_bundles")),
    )
    op.create_table(
        "deployments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("release_name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("runtime_version", sa.String(length=32), nullable=False),
        sa.Column("airflow_version", sa.String(length=32), nullable=False),
        sa.Column("executor", sa.String(length=32), nullable=False),
        sa.Column("dag_deploy_mode", sa.String(length=16), nullable=False),
        sa.Column("rollback_enabled", sa.Boolean(), nullable=False),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.Column("current_deploy_id", sa.String(length=32), nullable=True),
        sa.Column("last_deploy_seq", sa.Integer(), nullable=False),
        sa.Column("created_at", tarmac.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tarmac.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
        sa.UniqueConstraint("name", name=op.f("uq_deployments_name")),
        sa.UniqueConstraint("release_name", name=op.f("uq_deployments_release_name")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("system_role", sa.String(length=32), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("created_at", tarmac.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("scope_deployment_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", tarmac.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", tarmac.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["scope_deployment_id"],
            ["deployments.id"],
            name=op.f("fk_api_tokens_scope_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_api_tokens_token_sha256")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "deployment_env_vars",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("is_secret", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_env_vars_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_env_vars")),
        sa.UniqueConstraint(
            "deployment_id", "key", name=op.f("uq_deployment_env_vars_deployment_id_key")
        ),
    )
    with op.batch_alter_table("deployment_env_vars", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deployment_env_vars_deployment_id"), ["deployment_id"], unique=False
        )

    op.create_table(
        "deployment_members",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_members_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_deployment_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_members")),
        sa.UniqueConstraint(
            "deployment_id", "user_id", name=op.f("uq_deployment_members_deployment_id_user_id")
        ),
    )
    with op.batch_alter_table("deployment_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deployment_members_deployment_id"), ["deployment_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_deployment_members_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "deploys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("image", sa.String(length=512), nullable=True),
        sa.Column("runtime_version", sa.String(length=32), nullable=False),
        sa.Column("airflow_version", sa.String(length=32), nullable=False),
        sa.Column("dag_deploy_enabled", sa.Boolean(), nullable=False),
        sa.Column("bundle_sha256", sa.String(length=64), nullable=True),
        sa.Column("rollback_from_id", sa.String(length=32), nullable=True),
        sa.Column("created_by_id", sa.String(length=32), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("created_at", tarmac.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", tarmac.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["bundle_sha256"], ["bundles.sha256"], name=op.f("fk_deploys_bundle_sha256_bundles")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_deploys_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deploys_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rollback_from_id"],
            ["deploys.id"],
            name=op.f("fk_deploys_rollback_from_id_deploys"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deploys")),
        sa.UniqueConstraint(
            "deployment_id",
            "created_by_id",
            "idempotency_key",
            name=op.f("uq_deploys_deployment_id_created_by_id_idempotency_key"),
        ),
        sa.UniqueConstraint("deployment_id", "seq", name=op.f("uq_deploys_deployment_id_seq")),
    )
    with op.batch_alter_table("deploys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deploys_bundle_sha256"), ["bundle_sha256"], unique=False
        )
        batch_op.create_index("ix_deploys_created_at", ["created_at"], unique=False)

    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_deployments_current_deploy_id_deploys"),
            "deploys",
            ["current_deploy_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("deploys", schema=None) as batch_op:
        batch_op.drop_index("ix_deploys_created_at")
        batch_op.drop_index(batch_op.f("ix_deploys_bundle_sha256"))

    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_deployments_current_deploy_id_deploys"), type_="foreignkey"
        )
    op.drop_table("deploys")
    with op.batch_alter_table("deployment_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployment_members_user_id"))
        batch_op.drop_index(batch_op.f("ix_deployment_members_deployment_id"))

    op.drop_table("deployment_members")
    with op.batch_alter_table("deployment_env_vars", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployment_env_vars_deployment_id"))

    op.drop_table("deployment_env_vars")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    op.drop_table("users")
    op.drop_table("deployments")
    op.drop_table("bundles")
