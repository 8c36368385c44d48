"""No client can bloat the server: bodies are refused by token and size before being read.

Against a real server process, measuring its resident memory (RSS) from /proc.
"""

from __future__ import annotations

import pytest

from tests.support.process import ServerProcess
from tests.support.raw_http import open_request, rss_bytes, send_until_answered
from tests.support.reliability_stats import record
from tests.support.server import ADMIN_TOKEN

HUGE = 300 * 1024 * 1024
ALLOWED_GROWTH = 8 * 1024 * 1024  # "a few MiB": the body must never be held


def _huge_json(server: ServerProcess, *, token: str | None, chunked: bool) -> tuple[int, dict]:  # type: ignore[type-arg]
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if chunked:
        headers["Transfer-Encoding"] = "chunked"
    else:
        headers["Content-Length"] = str(HUGE)
    sock = open_request(server.url, "POST", "/api/v1/deployments", headers)
    _sent, status, body = send_until_answered(sock, total=HUGE, chunked=chunked)
    return status, body


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_unauthenticated_300_mib_body_is_refused_unread(
    server: ServerProcess, chunked: bool
) -> None:
    assert server.process is not None
    before = rss_bytes(server.process.pid)
    status, body = _huge_json(server, token=None, chunked=chunked)
    assert status == 401
    assert body["error"]["code"] == "unauthenticated"
    status, body = _huge_json(server, token="tmc_not_a_token", chunked=chunked)
    assert status == 401
    growth = rss_bytes(server.process.pid) - before
    assert growth <= ALLOWED_GROWTH
    record("huge_body", bodies=2, rss_growth_bytes=growth, authenticated=False)
    with server.client() as admin:
        assert admin.get("/api/v1/deployments").json()["items"] == []


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_authenticated_300_mib_json_body_is_413_without_growing(
    server: ServerProcess, chunked: bool
) -> None:
    assert server.process is not None
    before = rss_bytes(server.process.pid)
    status, body = _huge_json(server, token=ADMIN_TOKEN, chunked=chunked)
    assert status == 413
    assert body["error"]["code"] == "request_too_large"
    assert body["error"]["limit_bytes"] > 0
    growth = rss_bytes(server.process.pid) - before
    assert growth <= ALLOWED_GROWTH
    with server.client() as admin:
        assert admin.get("/api/v1/deployments").json()["items"] == []
        assert admin.get("/healthz").status_code == 200
    record("huge_body", bodies=1, rss_growth_bytes=growth, authenticated=True)
