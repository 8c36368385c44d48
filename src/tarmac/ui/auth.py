"""Who is using the UI: the session from the cookie, the signed-in Principal, CSRF checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from tarmac.access.principal import Principal
from tarmac.access.service import get_user, principal_for_user
from tarmac.access.ui_sessions import ui_session_user
from tarmac.api.dependencies import InstallationDep
from tarmac.errors import NotFound
from tarmac.installation.context import Installation
from tarmac.ui.session import (
    COOKIE_NAME,
    UiSession,
    csrf_matches,
    decode_session,
    new_anonymous_session,
    signing_key,
)


class LoginRequired(Exception):
    """No signed-in user: the UI sends the browser to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRefused(Exception):
    """A POST without this session's CSRF token."""


def session_key(request: Request, installation: Installation) -> bytes:
    """The cookie signing key, derived once per app."""
    key: bytes | None = getattr(request.app.state, "ui_session_key", None)
    if key is None:
        key = signing_key(installation.settings)
        request.app.state.ui_session_key = key
    return key


def current_session(request: Request, installation: InstallationDep) -> UiSession:
    """The cookie's session, or a new anonymous one (its cookie is set with the response)."""
    existing: UiSession | None = getattr(request.state, "ui_session", None)
    if existing is not None:
        return existing
    key = session_key(request, installation)
    session = decode_session(request.cookies.get(COOKIE_NAME), key=key)
    if session is None:
        session = new_anonymous_session()
        request.state.ui_session_dirty = True
    request.state.ui_session = session
    return session


UiSessionDep = Annotated[UiSession, Depends(current_session)]


def replace_session(request: Request, session: UiSession) -> None:
    """Make ``session`` the one written back with this response (login, logout)."""
    request.state.ui_session = session
    request.state.ui_session_dirty = True


def signed_in(request: Request, installation: InstallationDep, session: UiSessionDep) -> Principal:
    """The signed-in user's Principal, roles loaded fresh on every request.

    The cookie's server-side session must still be live: one ended by sign-out, a
    password change, a token revocation or an admin is refused at once.
    """
    if session.user_id is None:
        raise LoginRequired(request.url.path)
    with installation.database.session() as db:
        try:
            if ui_session_user(db, session.session_id) != session.user_id:
                raise NotFound("the UI session was ended")
            user = get_user(db, session.user_id)
        except NotFound:
            replace_session(request, session.anonymous())
            raise LoginRequired(request.url.path) from None
        principal = principal_for_user(db, user)
    request.state.ui_principal = principal
    return principal


UiPrincipal = Annotated[Principal, Depends(signed_in)]


async def checked_form(request: Request, session: UiSessionDep) -> FormData:
    """The POSTed form, once its CSRF token is this session's; else 403."""
    form = await request.form()
    token = form.get("csrf_token")
    if not csrf_matches(session, token if isinstance(token, str) else None):
        raise CsrfRefused()
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]
