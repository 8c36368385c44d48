"""One transaction per entry point: nothing is kept unless the entry point commits.

Services ``collect`` domain events on the session; ``Database.commit`` dispatches them to
the subscribed handlers once the transaction has committed, and a rollback drops them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tarmac.events.domain import DomainEvent
from tarmac.failpoints import failpoint

log = logging.getLogger(__name__)

Handler = Callable[[DomainEvent], None]
_EVENTS = "tarmac.domain_events"


def collect(session: Session, event: DomainEvent) -> None:
    """Queue ``event`` for dispatch when ``session``'s entry point commits."""
    session.info.setdefault(_EVENTS, []).append(event)


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
        reads_engine = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else engine
        )
        self._reads = sessionmaker(bind=reads_engine, expire_on_commit=False)
        self._handlers: tuple[Handler, ...] = ()

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A session that rolls back on exit (dropping its events) unless committed."""
        session = (self._writer if write else self._reader)()
        try:
            yield session
        finally:
            session.info.pop(_EVENTS, None)
            session.rollback()
            session.close()

    @contextmanager
    def reads(self) -> Iterator[Session]:
        """A session for a few reads and nothing else, for the hottest GET routes.

        On PostgreSQL its statements run in autocommit: at READ COMMITTED each statement
        takes its own snapshot anyway, so a transaction would only add the round trips of
        its BEGIN and ROLLBACK. On SQLite it is a read transaction, as ``session()``.
        """
        session = self._reads()
        try:
            yield session
        finally:
            session.close()

    def commit(self, session: Session) -> None:
        """Commit the unit of work, then dispatch the domain events it collected."""
        events: list[DomainEvent] = session.info.pop(_EVENTS, [])
        session.commit()
        # Committed, but agents not yet woken and the event not yet in events.jsonl.
        failpoint("after_commit")
        self.dispatch(events)

    def dispatch(self, events: Iterable[DomainEvent]) -> None:
        """Hand each event to every handler; a failing handler never fails the caller."""
        for event in events:
            for handler in self._handlers:
                try:
                    handler(event)
                except Exception:
                    log.exception("a handler of %s failed", type(event).__name__)

    @contextmanager
    def subscribed(self, handler: Handler) -> Iterator[None]:
        """Dispatch committed events to ``handler`` while the block runs."""
        self._handlers = (*self._handlers, handler)
        try:
            yield
        finally:
            self._handlers = tuple(h for h in self._handlers if h is not handler)

    def dispose(self) -> None:
        self.engine.dispose()
