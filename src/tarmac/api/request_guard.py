"""Guard request bodies before the app sees them: the token first, then size and pace.

Pure ASGI, so nothing reads or parses a body before these checks: a request to the API
without a valid token is answered 401 before a byte of its body is read; a body over its
endpoint's limit (``tarmac.api.body_limits``) is refused as soon as it is declared or
counted; a body that arrives slower than the minimum rate, or stops, is cut off. The app
is told the client went away, so it lets go of whatever it holds; this middleware then
answers in its place.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import anyio
import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tarmac.access.service import authenticate_token
from tarmac.api.body_limits import BodyRule, body_rule
from tarmac.api.dependencies import PRINCIPAL_STATE_KEY
from tarmac.errors import (
    InvalidBundle,
    RequestTooLarge,
    RequestTooSlow,
    TarmacError,
    Unauthenticated,
)

_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass(frozen=True)
class BodyPace:
    """The slowest body accepted: after ``grace_seconds``, at least ``min_bytes_per_second``
    on average, and never ``idle_timeout_seconds`` without a byte."""

    min_bytes_per_second: float
    grace_seconds: float
    idle_timeout_seconds: float


class RequestGuardMiddleware:
    def __init__(self, app: ASGIApp, *, max_upload_bytes: int, pace: BodyPace) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.pace = pace

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        rule = body_rule(
            method=scope["method"], path=scope["path"], max_upload_bytes=self.max_upload_bytes
        )
        headers = dict(scope["headers"])
        if rule.needs_token:
            try:
                await self._authenticate(scope, headers.get(b"authorization", b""))
            except TarmacError as error:
                await _send_error(scope, send, error)
                return
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > rule.max_bytes:
            await _send_error(scope, send, _too_large(rule))
            return
        await _GuardedBody(self.app, rule=rule, pace=self.pace)(scope, receive, send)

    async def _authenticate(self, scope: Scope, authorization: bytes) -> None:
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        plain = token.strip() if scheme.lower() == "bearer" else ""
        installation = scope["app"].state.installation

        def lookup() -> object:
            with installation.database.session() as session:
                return authenticate_token(session, plain or None)

        principal = await anyio.to_thread.run_sync(lookup)
        scope.setdefault("state", {})[PRINCIPAL_STATE_KEY] = principal


class _GuardedBody:
    """One request: counts and times its body; on a breach, answers with the error."""

    def __init__(self, app: ASGIApp, *, rule: BodyRule, pace: BodyPace) -> None:
        self.app, self.rule, self.pace = app, rule, pace
        self.received = 0
        self.started = time.monotonic()
        self.last_byte = self.started
        self.breach: TarmacError | None = None
        self.response_started = False
        self.body_done = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def guarded_receive() -> Message:
            if self.breach is not None:
                return {"type": "http.disconnect"}
            if self.body_done:  # e.g. a streaming response listening for a disconnect
                return await receive()
            timeout = self._time_for_next_chunk()
            message: Message | None = None
            if timeout > 0:
                with anyio.move_on_after(timeout):
                    message = await receive()
            if message is None:
                self.breach = self._too_slow()
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                self.received += len(message.get("body", b""))
                self.last_byte = time.monotonic()
                if self.received > self.rule.max_bytes:
                    self.breach = _too_large(self.rule)
                    return {"type": "http.disconnect"}
                self.body_done = not message.get("more_body", False)
            return message

        async def guarded_send(message: Message) -> None:
            if self.breach is not None and not self.response_started:
                return  # the app's answer to the "disconnect"; ours goes out instead
            if message["type"] == "http.response.start":
                self.response_started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception:
            if self.breach is None or self.response_started:
                raise
        if self.breach is not None and not self.response_started:
            self.response_started = True
            await _send_error(scope, send, self.breach)

    def _time_for_next_chunk(self) -> float:
        """Seconds the next chunk may take: idle limit, and the minimum average rate."""
        now = time.monotonic()
        idle_deadline = self.last_byte + self.pace.idle_timeout_seconds
        rate_deadline = (
            self.started + self.pace.grace_seconds + self.received / self.pace.min_bytes_per_second
        )
        return min(idle_deadline, rate_deadline) - now

    def _too_slow(self) -> RequestTooSlow:
        return RequestTooSlow(
            f"the request body arrived too slowly (less than "
            f"{int(self.pace.min_bytes_per_second)} bytes/s after "
            f"{self.pace.grace_seconds:g} s, or nothing for "
            f"{self.pace.idle_timeout_seconds:g} s); {self.received} bytes arrived",
            min_bytes_per_second=self.pace.min_bytes_per_second,
            received_bytes=self.received,
        )


def _too_large(rule: BodyRule) -> TarmacError:
    if rule.upload:
        return InvalidBundle(
            f"the upload is larger than {rule.max_bytes} bytes "
            "(TARMAC_MAX_BUNDLE_UPLOAD_BYTES plus form overhead)",
            limit_bytes=rule.max_bytes,
        )
    return RequestTooLarge(
        f"the request body is larger than this endpoint accepts ({rule.max_bytes} bytes)",
        limit_bytes=rule.max_bytes,
    )


async def _send_error(scope: Scope, send: Send, error: TarmacError) -> None:
    app_metrics = getattr(scope["app"].state, "metrics", None)
    if app_metrics is not None:
        app_metrics.count_refusal(code=error.code)
    body = json.dumps(error.to_body()).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        # The body was not read to its end: the connection cannot carry another request.
        (b"connection", b"close"),
    ]
    if isinstance(error, Unauthenticated):
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
