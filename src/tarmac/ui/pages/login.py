"""Sign in with a username and password, and sign out."""

from __future__ import annotations

import math

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from tarmac.access.login_throttle import LoginThrottle
from tarmac.access.service import authenticate_password
from tarmac.access.ui_sessions import end_ui_session, start_ui_session
from tarmac.api.dependencies import InstallationDep
from tarmac.errors import Unauthenticated
from tarmac.ui.auth import CheckedForm, UiSessionDep, replace_session
from tarmac.ui.rendering import render
from tarmac.ui.route_class import UiRoute
from tarmac.ui.session import MAX_AGE_SECONDS

router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)

HOME = "/ui/deployments"


@router.get("")
@router.get("/")
def home() -> Response:
    return RedirectResponse(HOME, status_code=303)


@router.get("/login")
def login_page(request: Request, session: UiSessionDep, next: str = HOME) -> Response:
    if session.user_id is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", next=safe_next(next), username="", error=None)


@router.post("/login")
def login(
    request: Request, installation: InstallationDep, session: UiSessionDep, form: CheckedForm
) -> Response:
    """Check the password; on success start a new session (new CSRF token)."""
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    next_path = safe_next(str(form.get("next") or HOME))
    throttle: LoginThrottle = request.app.state.login_throttle
    if (wait := throttle.wait_seconds(username)) > 0:
        return render(
            request,
            "login.html",
            status=429,
            next=next_path,
            username=username,
            error=f"Too many failed sign-ins for this user. Try again in {math.ceil(wait)} s.",
        )
    try:
        with installation.database.session() as db:
            principal = authenticate_password(db, username=username, password=password)
    except Unauthenticated:
        throttle.failed(username)
        return render(
            request,
            "login.html",
            status=401,
            next=next_path,
            username=username,
            error="Wrong username or password.",
        )
    throttle.succeeded(username)
    with installation.database.session(write=True) as db:
        session_id = start_ui_session(
            db, user_id=principal.user_id, max_age_seconds=MAX_AGE_SECONDS
        )
        installation.commit(db)
    replace_session(request, session.logged_in_as(principal.user_id, session_id=session_id))
    return RedirectResponse(next_path, status_code=303)


@router.post("/logout")
def logout(
    request: Request, installation: InstallationDep, session: UiSessionDep, form: CheckedForm
) -> Response:
    """End the session on the server too: a copy of the cookie no longer signs anyone in."""
    with installation.database.session(write=True) as db:
        end_ui_session(db, session.session_id)
        installation.commit(db)
    replace_session(request, session.anonymous())
    return RedirectResponse("/ui/login", status_code=303)


def safe_next(path: str) -> str:
    """Only a path inside the UI: never another host (no open redirect)."""
    if path.startswith("/ui/") and not path.startswith("//") and "\\" not in path:
        return path
    return HOME
