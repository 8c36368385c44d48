"""LiveCodeClient: long-poll answers, retryable and refused errors, verified downloads."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from tarmac.agent.client import (
    AgentRejected,
    BundleDigestMismatch,
    LiveCodeClient,
    LiveDags,
    ServerUnavailable,
)

LIVE = {"deploy_id": "d2", "bundle_sha256": "ab" * 32, "dag_deploy_enabled": True}


def _client(handler: httpx.MockTransport) -> LiveCodeClient:
    return LiveCodeClient(
        server_url="http://tarmac.test/", token="tok", deployment_id="dep", transport=handler
    )


def test_current_sends_the_etag_and_wait_and_reads_the_new_etag() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=LIVE, headers={"ETag": '"d2"'})

    live = _client(httpx.MockTransport(handler)).current(etag='"d1"', wait_seconds=30)
    assert live == LiveDags("d2", "ab" * 32, True, etag='"d2"')
    assert seen[0].url.path == "/api/v1/deployments/dep/dags/current"
    assert seen[0].url.params["wait"] == "30"
    assert seen[0].headers["If-None-Match"] == '"d1"'
    assert seen[0].headers["Authorization"] == "Bearer tok"


def test_not_modified_is_none() -> None:
    client = _client(httpx.MockTransport(lambda _r: httpx.Response(304)))
    assert client.current(etag='"d1"', wait_seconds=5) is None


def test_without_an_etag_there_is_no_wait() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=LIVE)

    _client(httpx.MockTransport(handler)).current(wait_seconds=30)
    assert "wait" not in seen[0].url.params
    assert "If-None-Match" not in seen[0].headers


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_trouble_is_retryable(status: int) -> None:
    client = _client(httpx.MockTransport(lambda _r: httpx.Response(status)))
    with pytest.raises(ServerUnavailable):
        client.current()


def test_no_server_is_retryable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(ServerUnavailable, match="unreachable"):
        _client(httpx.MockTransport(handler)).current()


def test_a_refusal_keeps_its_code() -> None:
    body = {"error": {"code": "unauthenticated", "message": "the API token is unknown"}}
    client = _client(httpx.MockTransport(lambda _r: httpx.Response(401, json=body)))
    with pytest.raises(AgentRejected) as refused:
        client.current()
    assert (refused.value.status, refused.value.code) == (401, "unauthenticated")


def test_download_checks_the_digest(tmp_path: Path) -> None:
    data = b"bundle bytes"
    sha = hashlib.sha256(data).hexdigest()
    client = _client(httpx.MockTransport(lambda _r: httpx.Response(200, content=data)))
    client.download(sha, into=tmp_path / "ok")
    assert (tmp_path / "ok").read_bytes() == data

    with pytest.raises(BundleDigestMismatch):
        client.download("0" * 64, into=tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_a_failed_download_leaves_nothing(tmp_path: Path) -> None:
    client = _client(httpx.MockTransport(lambda _r: httpx.Response(404, json={})))
    with pytest.raises(AgentRejected):
        client.download("0" * 64, into=tmp_path / "missing")
    assert not (tmp_path / "missing").exists()


def test_report_in_use_puts_the_version_and_its_seconds() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"deploy_id": "d1", "in_use_until": "2026-01-01T00:00:00Z"})

    _client(httpx.MockTransport(handler)).report_in_use("d1", seconds=3600)
    assert seen[0].method == "PUT"
    assert seen[0].url.path == "/api/v1/deployments/dep/deploys/d1/in-use"
    assert seen[0].read() == b'{"seconds":3600}'


def _serving(bundle: bytes, *, direct_status: int) -> tuple[httpx.MockTransport, list[str]]:
    """The API with a pre-signed URL in its answer, and an object store behind that URL."""
    sha = hashlib.sha256(bundle).hexdigest()
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url.host}{request.url.path} {request.headers.get('Authorization')}")
        if request.url.host == "bucket.test":
            return httpx.Response(direct_status, content=bundle if direct_status == 200 else b"")
        if request.url.path.endswith("/dags/current"):
            url = f"http://bucket.test/blobs/{sha}?X-Amz-Signature=s"
            return httpx.Response(200, json={**LIVE, "bundle_sha256": sha, "download_url": url})
        return httpx.Response(200, content=bundle)

    return httpx.MockTransport(handler), seen


def test_a_pre_signed_url_is_fetched_without_the_token(tmp_path: Path) -> None:
    bundle = b"bundle bytes"
    transport, seen = _serving(bundle, direct_status=200)
    client = _client(transport)
    live = client.current()
    assert live is not None and live.bundle_sha256 is not None
    client.download(live.bundle_sha256, into=tmp_path / "b.tgz")
    assert (tmp_path / "b.tgz").read_bytes() == bundle
    assert seen[1].startswith("bucket.test/blobs/") and seen[1].endswith(" None")
    assert (client.direct_downloads, client.api_downloads) == (1, 0)


def test_a_failing_pre_signed_url_falls_back_to_the_api(tmp_path: Path) -> None:
    bundle = b"bundle bytes"
    transport, seen = _serving(bundle, direct_status=403)
    client = _client(transport)
    live = client.current()
    assert live is not None and live.bundle_sha256 is not None
    client.download(live.bundle_sha256, into=tmp_path / "b.tgz")
    assert (tmp_path / "b.tgz").read_bytes() == bundle
    assert seen[2] == f"tarmac.test/api/v1/blobs/{live.bundle_sha256} Bearer tok"
    assert (client.direct_downloads, client.api_downloads) == (0, 1)
