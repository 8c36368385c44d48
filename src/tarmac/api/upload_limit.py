"""Stop a bundle upload that is over the limit while it streams in, not after it is on disk."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tarmac.errors import InvalidBundle

_UPLOAD_METHODS = {"POST", "PUT"}


class UploadLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` with 400 ``invalid_bundle``.

    A declared Content-Length over the limit is refused before a byte is read; a body
    without one (chunked) is counted as it arrives and refused once it passes the limit.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _UPLOAD_METHODS:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise InvalidBundle(self._message(), limit_bytes=self.max_bytes)
            return message

        await self.app(scope, counting_receive, send)

    def _message(self) -> str:
        return (
            f"the upload is larger than {self.max_bytes} bytes "
            "(TARMAC_MAX_BUNDLE_UPLOAD_BYTES plus form overhead)"
        )

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "error": {
                    "code": InvalidBundle.code,
                    "message": self._message(),
                    "limit_bytes": self.max_bytes,
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
