"""One transaction per entry point: nothing is kept unless the entry point commits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker


class Database:
    """Hands out sessions; writers get a SQLite write lock at BEGIN (a no-op on PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._reader = sessionmaker(bind=engine, expire_on_commit=False)
        writer_engine = (
            engine.execution_options(sqlite_begin="IMMEDIATE")
            if engine.dialect.name == "sqlite"
            else engine
        )
        self._writer = sessionmaker(bind=writer_engine, expire_on_commit=False)

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A session that rolls back on exit unless ``commit()`` was called."""
        session = (self._writer if write else self._reader)()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
