"""Server-side UI sessions: the cookie names a row, so ending a session takes effect at once.

Sign-out ends one session; a password change, a token revocation and an admin's
revocation end every session of the user.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tarmac.access.models import UiSessionRecord
from tarmac.db.base import utcnow


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def start_ui_session(session: Session, *, user_id: str, max_age_seconds: int) -> str:
    """A new session for ``user_id``; returns its id (shown once, kept only as a digest)."""
    session_id = secrets.token_urlsafe(32)
    now = utcnow()
    # Expired rows go here, so the table holds about the live sessions only.
    session.execute(delete(UiSessionRecord).where(UiSessionRecord.expires_at <= now))
    session.add(
        UiSessionRecord(
            id_sha256=_digest(session_id),
            user_id=user_id,
            created_at=now,
            expires_at=now + timedelta(seconds=max_age_seconds),
        )
    )
    session.flush()
    return session_id


def ui_session_user(session: Session, session_id: str | None) -> str | None:
    """The user of a live session, or None if it was ended, expired or never existed."""
    if not session_id:
        return None
    record = session.get(UiSessionRecord, _digest(session_id))
    if record is None or record.expires_at <= utcnow():
        return None
    return record.user_id


def end_ui_session(session: Session, session_id: str | None) -> None:
    if session_id:
        session.execute(
            delete(UiSessionRecord).where(UiSessionRecord.id_sha256 == _digest(session_id))
        )


def end_user_ui_sessions(session: Session, *, user_id: str) -> int:
    """End every UI session of a user; returns how many were live."""
    live = list(
        session.scalars(
            select(UiSessionRecord.id_sha256).where(
                UiSessionRecord.user_id == user_id, UiSessionRecord.expires_at > utcnow()
            )
        )
    )
    session.execute(delete(UiSessionRecord).where(UiSessionRecord.user_id == user_id))
    return len(live)
