"""Schema changes only ever happen through Alembic migrations, run from here."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = "hashtext('tarmac-migrations:' || current_schema())"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade_to_head(engine: Engine) -> None:
    """Migrate; on PostgreSQL, replicas starting together take turns (an advisory lock)."""
    if engine.dialect.name != "postgresql":
        command.upgrade(alembic_config(engine), "head")
        return
    with engine.connect() as lock:
        # Session-level, so it outlives this commit; one key per schema.
        lock.execute(text(f"SELECT pg_advisory_lock({_MIGRATION_LOCK})"))
        lock.commit()
        try:
            command.upgrade(alembic_config(engine), "head")
        finally:
            lock.execute(text(f"SELECT pg_advisory_unlock({_MIGRATION_LOCK})"))
            lock.commit()


def downgrade_to_base(engine: Engine) -> None:
    command.downgrade(alembic_config(engine), "base")
