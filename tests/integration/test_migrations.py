"""Migrations: up, down, up again on both databases; models and migrations agree."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import tarmac.db.models  # noqa: F401
from tarmac.db.base import Base
from tarmac.db.engine import make_engine
from tarmac.db.migrate import downgrade_to_base, upgrade_to_head


def _tables(engine: object) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}  # type: ignore[arg-type]


def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade_to_head(engine)
    assert _tables(engine) == set(Base.metadata.tables)
    downgrade_to_base(engine)
    assert _tables(engine) == set()
    upgrade_to_head(engine)
    assert _tables(engine) == set(Base.metadata.tables)
    engine.dispose()


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade_to_head(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
    engine.dispose()
