"""The UI's signed session cookie and its per-session CSRF token.

The cookie holds ``{user id, session id, CSRF token, issue time}`` as base64url JSON with an
HMAC-SHA256 signature; the key is derived from the installation secret (the same
material that encrypts secret variables, under its own label), so every replica on one
database accepts the others' cookies and rotating ``TARMAC_SECRET_KEY`` logs everyone out.
A signed-in cookie also names a server-side session (``tarmac.access.ui_sessions``): the
signature proves the cookie is ours, the row proves the session was not ended since.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, replace

from tarmac.deployments.secret_values import KEY_FILE_NAME
from tarmac.settings import Settings

COOKIE_NAME = "tarmac_session"
COOKIE_PATH = "/ui"
MAX_AGE_SECONDS = 12 * 3600
_LABEL = b"tarmac ui session v1"


@dataclass(frozen=True)
class UiSession:
    """What the cookie says: who (None before login), which server-side session, the CSRF
    token, when it was issued."""

    user_id: str | None
    csrf_token: str
    issued_at: int
    session_id: str | None = None

    def logged_in_as(self, user_id: str, *, session_id: str) -> UiSession:
        """A fresh session for ``user_id``: a new CSRF token, so a planted one is useless."""
        return UiSession(
            user_id=user_id,
            csrf_token=new_csrf_token(),
            issued_at=int(time.time()),
            session_id=session_id,
        )

    def anonymous(self) -> UiSession:
        return replace(
            self,
            user_id=None,
            session_id=None,
            csrf_token=new_csrf_token(),
            issued_at=int(time.time()),
        )


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def new_anonymous_session() -> UiSession:
    return UiSession(user_id=None, csrf_token=new_csrf_token(), issued_at=int(time.time()))


def signing_key(settings: Settings) -> bytes:
    """The cookie key: HMAC of the installation secret under the UI session label."""
    material = settings.secret_key
    if not material:
        # open_installation created this file (mode 0600) before any request arrives.
        material = (settings.data_dir / KEY_FILE_NAME).read_text().strip()
    return hmac.new(material.encode("utf-8"), _LABEL, hashlib.sha256).digest()


def encode_session(session: UiSession, *, key: bytes) -> str:
    """The cookie value: ``payload.signature``, both base64url."""
    payload = json.dumps(
        {
            "u": session.user_id,
            "s": session.session_id,
            "c": session.csrf_token,
            "t": session.issued_at,
        },
        separators=(",", ":"),
    ).encode()
    body = _b64(payload)
    return f"{body}.{_b64(_sign(body, key))}"


def decode_session(value: str | None, *, key: bytes, now: float | None = None) -> UiSession | None:
    """The session in a cookie, or None if it is missing, forged, malformed or expired."""
    if not value or value.count(".") != 1:
        return None
    body, signature = value.split(".")
    try:
        if not hmac.compare_digest(_unb64(signature), _sign(body, key)):
            return None
        data = json.loads(_unb64(body))
        user_id, csrf, issued = data["u"], data["c"], data["t"]
        session_id = data.get("s")
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(csrf, str) or not isinstance(issued, int) or isinstance(issued, bool):
        return None
    if user_id is not None and not isinstance(user_id, str):
        return None
    if session_id is not None and not isinstance(session_id, str):
        return None
    age = (time.time() if now is None else now) - issued
    if not 0 <= age <= MAX_AGE_SECONDS + 60:
        return None
    return UiSession(user_id=user_id, csrf_token=csrf, issued_at=issued, session_id=session_id)


def csrf_matches(session: UiSession | None, submitted: str | None) -> bool:
    """Whether a form's token is this session's (constant-time)."""
    if session is None or not submitted:
        return False
    return hmac.compare_digest(session.csrf_token.encode(), submitted.encode())


def _sign(body: str, key: bytes) -> bytes:
    return hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
