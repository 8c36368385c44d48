"""A real HTTP server speaking enough Elasticsearch for the official client's bulk calls.

It answers ``GET /`` and ``POST [/<index>]/_bulk`` the way Elasticsearch 9 does (product
header, compatible-with media types, per-item results, 409 on a repeated ``create``),
can be taken down (connections refused) and up again on the same port, can reject the
next items or whole requests, and records what it stored by ``(index, _id)``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Key = tuple[str, str]

_COMPAT = re.compile(r"compatible-with=(\d+)")
_ITEM_ERRORS = {
    400: "mapper_parsing_exception",
    429: "es_rejected_execution_exception",
    500: "internal_server_error",
    503: "unavailable_shards_exception",
}


class FakeElasticsearch:
    """Elasticsearch's bulk API on 127.0.0.1, in memory, switchable down and up."""

    def __init__(self, *, compatible_with: frozenset[int] = frozenset({8, 9})) -> None:
        self.compatible_with = compatible_with  # a 9.x server accepts 8 and 9
        self.stored: dict[Key, dict[str, Any]] = {}
        self.created: Counter[Key] = Counter()  # successful creates: 1 each, or a duplicate
        self.conflicts = 0  # creates answered 409 (already stored)
        self.bulk_requests = 0
        self.accept_headers: list[str] = []
        self.latency_seconds = 0.0
        self.port = 0
        self._item_rejections: list[int] = []
        self._request_rejections: list[int] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        """Listen (again, on the same port once one was chosen)."""
        if self._server is not None:
            return
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def down(self) -> None:
        """Stop listening: new connections are refused."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def reject_next_items(self, count: int, *, status: int = 429) -> None:
        """Answer the next ``count`` bulk items with this per-item error status."""
        with self._lock:
            self._item_rejections.extend([status] * count)

    def reject_next_requests(self, count: int, *, status: int = 503) -> None:
        """Answer the next ``count`` bulk requests as a whole with this status."""
        with self._lock:
            self._request_rejections.extend([status] * count)

    def indices(self) -> set[str]:
        with self._lock:
            return {index for index, _ in self.stored}

    def __enter__(self) -> FakeElasticsearch:
        self.up()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.down()

    # -- request handling (called from the server's threads) --

    def handle_bulk(self, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        default_index = path.strip("/").split("/")[0] if path.count("/") > 1 else None
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        with self._lock:
            self.bulk_requests += 1
            if self._request_rejections:
                status = self._request_rejections.pop(0)
                return status, _error(status, _ITEM_ERRORS.get(status, "exception"))
            items = [
                self._apply(action, source, default_index)
                for action, source in zip(lines[::2], lines[1::2], strict=True)
            ]
        errors = any(next(iter(i.values()))["status"] >= 300 for i in items)
        return 200, {"took": 1, "errors": errors, "items": items}

    def _apply(
        self, action: dict[str, Any], source: dict[str, Any], default_index: str | None
    ) -> dict[str, Any]:
        ((op_type, meta),) = action.items()
        key = (meta.get("_index") or default_index or "", str(meta.get("_id")))
        result: dict[str, Any] = {"_index": key[0], "_id": key[1]}
        if self._item_rejections:
            status = self._item_rejections.pop(0)
            kind = _ITEM_ERRORS.get(status, "exception")
            return {op_type: {**result, "status": status, "error": _reason(kind)}}
        if op_type == "create" and key in self.stored:
            self.conflicts += 1
            reason = f"[{key[1]}]: version conflict, document already exists (current version [1])"
            error = {**_reason("version_conflict_engine_exception"), "reason": reason}
            return {op_type: {**result, "status": 409, "error": error}}
        self.stored[key] = source
        self.created[key] += 1
        return {op_type: {**result, "_version": 1, "result": "created", "status": 201}}


def _reason(kind: str) -> dict[str, str]:
    return {"type": kind, "reason": f"fake {kind}"}


def _error(status: int, kind: str) -> dict[str, Any]:
    return {"error": {**_reason(kind), "root_cause": [_reason(kind)]}, "status": status}


def _handler_for(fake: FakeElasticsearch) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: one request per connection, so "down" leaves no open connection behind.
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            if not self._compatible():
                return
            if self.path.split("?")[0] == "/":
                self._reply(200, _product_info())
            else:
                self._reply(404, _error(404, "resource_not_found_exception"))

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if not self._compatible():
                return
            path = self.path.split("?")[0]
            if not path.endswith("/_bulk"):
                self._reply(404, _error(404, "resource_not_found_exception"))
                return
            self._reply(*fake.handle_bulk(path, body))

        do_PUT = do_POST  # the client sends _bulk as PUT; Elasticsearch takes both

        def _compatible(self) -> bool:
            # Like Elasticsearch: a client asking for an API version it can't serve gets 400.
            accept = self.headers.get("Accept", "")
            with fake._lock:
                fake.accept_headers.append(accept)
            versions = {
                int(v)
                for header in (accept, self.headers.get("Content-Type", ""))
                for v in _COMPAT.findall(header)
            }
            if versions - fake.compatible_with:
                self._reply(400, _error(400, "media_type_header_exception"))
                return False
            return True

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("X-Elastic-Product", "Elasticsearch")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

    return Handler


def _product_info() -> dict[str, Any]:
    return {
        "name": "fake-node",
        "cluster_name": "tarmac-test",
        "version": {"number": "9.0.0", "build_flavor": "default", "lucene_version": "10.1.0"},
        "tagline": "You Know, for Search",
    }


@contextmanager
def fake_elasticsearch(**kwargs: Any) -> Iterator[FakeElasticsearch]:
    """A running fake, stopped afterwards."""
    with FakeElasticsearch(**kwargs) as fake:
        yield fake
