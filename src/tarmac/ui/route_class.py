"""The UI's route class: errors become HTML pages, the session cookie is written back,
and every page carries the same security headers."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from tarmac.errors import TarmacError
from tarmac.ui.auth import CsrfRefused, LoginRequired, session_key
from tarmac.ui.rendering import render
from tarmac.ui.session import COOKIE_NAME, COOKIE_PATH, MAX_AGE_SECONDS, encode_session

SECURITY_HEADERS = {
    # No inline script or style anywhere: injected markup could not run even if it slipped in.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class UiRoute(APIRoute):
    """An APIRoute whose failures render as pages instead of JSON."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def ui_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except LoginRequired as exc:
                response = RedirectResponse(
                    f"/ui/login?next={quote(exc.next_path, safe='/')}", status_code=303
                )
            except CsrfRefused:
                response = error_page(
                    request,
                    status=403,
                    title="Form expired",
                    message="This form is no longer valid (missing or stale security token). "
                    "Reload the page and try again.",
                )
            except TarmacError as exc:
                response = error_page(request, status=exc.status, message=exc.message)
            except RequestValidationError:
                response = error_page(request, status=400, message="The request is malformed.")
            write_session_cookie(request, response)
            response.headers.update(SECURITY_HEADERS)
            return response

        return ui_handler


def error_page(
    request: Request, *, status: int, message: str, title: str | None = None
) -> Response:
    titles = {401: "Sign in needed", 403: "Not allowed", 404: "Not found", 409: "Not possible"}
    return render(
        request,
        "error.html",
        status=status,
        title=title or titles.get(status, "Something went wrong"),
        message=message,
    )


def write_session_cookie(request: Request, response: Response) -> None:
    """Set the cookie when the session is new or changed: HttpOnly, SameSite=Lax, and
    Secure whenever the page was served over https."""
    session = getattr(request.state, "ui_session", None)
    if session is None or not getattr(request.state, "ui_session_dirty", False):
        return
    installation = request.app.state.installation
    response.set_cookie(
        COOKIE_NAME,
        encode_session(session, key=session_key(request, installation)),
        max_age=MAX_AGE_SECONDS,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
