"""Alembic environment: runs migrations on the engine handed over by tarmac.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, create_engine

import tarmac.db.models  # noqa: F401  (registers every table on the metadata)
from tarmac.db.base import Base
from tarmac.db.engine import normalise_database_url

config = context.config
target_metadata = Base.metadata


def _engine() -> Engine:
    engine = config.attributes.get("engine")
    if engine is not None:
        return engine  # type: ignore[no-any-return]
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url or pass an engine")
    return create_engine(normalise_database_url(url))


def run_migrations_online() -> None:
    engine = _engine()
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
