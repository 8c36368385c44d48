"""Typed dependencies shared by every route: the installation, sessions, the caller."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from tarmac.access.principal import Principal
from tarmac.access.service import authenticate_token
from tarmac.installation.context import Installation


async def get_installation(request: Request) -> Installation:
    """Async on purpose: a plain attribute read needs no worker thread."""
    installation: Installation = request.app.state.installation
    return installation


InstallationDep = Annotated[Installation, Depends(get_installation)]


def _read_session(installation: InstallationDep) -> Iterator[Session]:
    with installation.database.session() as session:
        yield session


def _write_session(installation: InstallationDep) -> Iterator[Session]:
    with installation.database.session(write=True) as session:
        yield session


ReadSession = Annotated[Session, Depends(_read_session)]
WriteSession = Annotated[Session, Depends(_write_session)]
"""A session holding the write lock on SQLite; the route must ``commit()`` to keep anything."""


def _bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


PRINCIPAL_STATE_KEY = "tarmac_principal"
"""Request state key of the caller the request guard found before reading the body."""


def current_principal(request: Request, installation: InstallationDep) -> Principal:
    """The authenticated caller (own short read transaction, so writers aren't held up)."""
    found: Principal | None = getattr(request.state, PRINCIPAL_STATE_KEY, None)
    if found is not None:
        return found
    with installation.database.session() as session:
        return authenticate_token(session, _bearer_token(request))


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


@contextmanager
def reading_as_caller(
    request: Request, installation: Installation
) -> Iterator[tuple[Principal, Session]]:
    """The caller and a read session, both from one session, for the hottest GET routes.

    ``CurrentPrincipal`` plus ``ReadSession`` cost two sessions and three hops to a worker
    thread (a sync dependency, and a generator's enter and exit) before the route's own;
    a sync route that opens this itself does it all in its one hop. That is about a fifth
    of a history page's server time (``bench/history_listing.py``).
    """
    with installation.database.reads() as session:
        yield authenticate_token(session, _bearer_token(request)), session


def commit(session: Session, installation: Installation) -> None:
    """End the request's unit of work, then do the after-commit work (event log)."""
    installation.commit(session)
