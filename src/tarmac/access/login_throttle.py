"""Slow down password guessing: after a few failures, a user's logins wait, doubling."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

FREE_FAILURES = 5
FIRST_LOCKOUT_SECONDS = 30.0
MAX_LOCKOUT_SECONDS = 15 * 60.0
FORGET_AFTER_SECONDS = 15 * 60.0


@dataclass
class _Record:
    failures: int = 0
    locked_until: float = 0.0
    last_failure: float = 0.0


class LoginThrottle:
    """Failed logins per username, in this process (each replica counts its own)."""

    def __init__(self) -> None:
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def wait_seconds(self, username: str, *, now: float | None = None) -> float:
        """How long this username must wait before its next attempt (0: go ahead)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            record = self._records.get(username.lower())
            if record is None:
                return 0.0
            return max(0.0, record.locked_until - now)

    def failed(self, username: str, *, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            key = username.lower()
            record = self._records.get(key)
            if record is None or now - record.last_failure > FORGET_AFTER_SECONDS:
                record = self._records[key] = _Record()
            record.failures += 1
            record.last_failure = now
            beyond = record.failures - FREE_FAILURES
            if beyond >= 0:
                lockout = min(MAX_LOCKOUT_SECONDS, FIRST_LOCKOUT_SECONDS * 2**beyond)
                record.locked_until = now + lockout

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._records.pop(username.lower(), None)
