"""HTTP access to a Deployment's live DAGs, as an agent (read-only, Deployment-scoped token)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

_CHUNK = 1024 * 1024


class ServerUnavailable(Exception):
    """No answer, or a 5xx/429: worth retrying later with the same request."""


class AgentRejected(Exception):
    """The server refused the agent (bad token, no such Deployment or deploy, bad request)."""

    def __init__(self, message: str, *, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class BundleDigestMismatch(Exception):
    """A downloaded bundle's bytes do not hash to the sha256 it was asked for."""


@dataclass(frozen=True)
class LiveDags:
    """A deploy's DAG code as the server describes it; ``etag`` names the deploy."""

    deploy_id: str | None
    bundle_sha256: str | None
    dag_deploy_enabled: bool
    etag: str | None = None
    download_url: str | None = None
    """A pre-signed object-store URL of the bundle, when the server hands one out."""

    @classmethod
    def from_json(cls, data: dict[str, Any], *, etag: str | None = None) -> LiveDags:
        return cls(
            deploy_id=data.get("deploy_id"),
            bundle_sha256=data.get("bundle_sha256"),
            dag_deploy_enabled=bool(data.get("dag_deploy_enabled")),
            etag=etag,
            download_url=data.get("download_url"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "deploy_id": self.deploy_id,
            "bundle_sha256": self.bundle_sha256,
            "dag_deploy_enabled": self.dag_deploy_enabled,
            "etag": self.etag,
        }


class LiveCodeClient:
    """Reads one Deployment's live DAGs and downloads its bundles.

    When the server hands out a pre-signed URL with the live DAGs, the bundle is fetched
    straight from the object store (without the agent's token); any failure there falls
    back to the API's ``/api/v1/blobs``.
    """

    def __init__(
        self,
        *,
        server_url: str,
        token: str,
        deployment_id: str,
        timeout_seconds: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.server_url = server_url.rstrip("/")
        self.deployment_id = deployment_id
        self._timeout = timeout_seconds
        self._http = httpx.Client(
            base_url=self.server_url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "tarmac-agent"},
            timeout=timeout_seconds,
            transport=transport,
        )
        # No tarmac credentials here: these requests go to the object store.
        self._direct = httpx.Client(timeout=timeout_seconds, transport=transport)
        self._direct_urls: dict[str, str] = {}
        self.direct_downloads = 0
        self.api_downloads = 0

    def close(self) -> None:
        self._http.close()
        self._direct.close()

    def _remember(self, live: LiveDags) -> LiveDags:
        if live.bundle_sha256 and live.download_url:
            self._direct_urls[live.bundle_sha256] = live.download_url
        return live

    def current(self, *, etag: str | None = None, wait_seconds: float = 0.0) -> LiveDags | None:
        """The live DAGs; with ``etag``, None once ``wait_seconds`` pass with no change."""
        headers = {"If-None-Match": etag} if etag else {}
        params = {"wait": f"{wait_seconds:g}"} if etag and wait_seconds > 0 else {}
        # The read timeout must outlast the server's wait, or every idle poll would fail.
        timeout = httpx.Timeout(self._timeout, read=self._timeout + wait_seconds)
        response = self._send(
            "GET",
            f"/api/v1/deployments/{self.deployment_id}/dags/current",
            headers=headers,
            params=params,
            timeout=timeout,
        )
        if response.status_code == 304:
            return None
        return self._remember(
            LiveDags.from_json(response.json(), etag=response.headers.get("etag"))
        )

    def deploy_dags(self, deploy_id: str) -> LiveDags:
        """The DAG bundle of one deploy of the Deployment, live or not."""
        response = self._send(
            "GET", f"/api/v1/deployments/{self.deployment_id}/dags/deploys/{deploy_id}"
        )
        return self._remember(LiveDags.from_json(response.json()))

    def report_in_use(self, deploy_id: str, *, seconds: int) -> None:
        """Tell the server a DAG run still reads this version, so cleanup keeps it."""
        self._send(
            "PUT",
            f"/api/v1/deployments/{self.deployment_id}/deploys/{deploy_id}/in-use",
            json={"seconds": seconds},
        )

    def download(self, sha256: str, *, into: Path) -> None:
        """Write bundle ``sha256`` to ``into``, checking its digest; nothing is left on error."""
        url = self._direct_urls.pop(sha256, None)
        if url is not None:
            try:
                self._fetch(self._direct, url, sha256, into=into)
            except (ServerUnavailable, AgentRejected, BundleDigestMismatch):
                pass  # expired, unreachable or wrong: the API serves the same bytes
            else:
                self.direct_downloads += 1
                return
        self._fetch(self._http, f"/api/v1/blobs/{sha256}", sha256, into=into)
        self.api_downloads += 1

    def _fetch(self, http: httpx.Client, url: str, sha256: str, *, into: Path) -> None:
        digest = hashlib.sha256()
        try:
            with (
                http.stream("GET", url) as response,
                into.open("wb") as out,
            ):
                self._check(response, read_body=True)
                for chunk in response.iter_bytes(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        except httpx.TransportError as exc:
            into.unlink(missing_ok=True)
            raise ServerUnavailable(f"downloading bundle {sha256[:12]} failed: {exc}") from exc
        except BaseException:
            into.unlink(missing_ok=True)
            raise
        if digest.hexdigest() != sha256:
            into.unlink(missing_ok=True)
            raise BundleDigestMismatch(
                f"bundle {sha256[:12]} downloaded with sha256 {digest.hexdigest()[:12]}"
            )

    def tree(self, sha256: str) -> dict[str, Any] | None:
        """Bundle ``sha256``'s tree (see ``bundles.tree``), or None if the server has none."""
        try:
            return self._send("GET", f"/api/v1/blobs/{sha256}/tree").json()  # type: ignore[no-any-return]
        except AgentRejected as exc:
            if exc.status == 404:  # an older server, or one that keeps no unpacked copies
                return None
            raise

    def files(
        self, sha256: str, wanted: list[tuple[str, int]]
    ) -> Iterator[tuple[str, Iterator[bytes]]]:
        """The bytes of bundle ``sha256``'s files ``(digest, size)``, in order, in one request.

        Yields each digest with an iterator of its bytes, which must be consumed before
        the next file is yielded. The caller checks every digest.
        """
        body = {"sha256": [digest for digest, _size in wanted]}
        try:
            with self._http.stream("POST", f"/api/v1/blobs/{sha256}/files", json=body) as response:
                self._check(response, read_body=True)
                stream = _Exact(response.iter_bytes(_CHUNK))
                for digest, size in wanted:
                    yield digest, stream.take(size)
                stream.expect_end()
        except httpx.TransportError as exc:
            raise ServerUnavailable(
                f"fetching files of bundle {sha256[:12]} failed: {exc}"
            ) from exc

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServerUnavailable(f"{self.server_url} unreachable: {exc}") from exc
        self._check(response)
        return response

    def _check(self, response: httpx.Response, *, read_body: bool = False) -> None:
        if response.status_code < 400:
            return
        if read_body:
            response.read()
        if response.status_code >= 500 or response.status_code == 429:
            raise ServerUnavailable(f"{self.server_url} answered {response.status_code}")
        try:
            error = response.json().get("error", {})
        except ValueError:
            error = {}
        raise AgentRejected(
            error.get("message") or f"HTTP {response.status_code}",
            status=response.status_code,
            code=error.get("code", "http_error"),
        )


class _Exact:
    """Cuts a byte stream into pieces of known sizes; a short or long stream is an error."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._at = 0

    def take(self, size: int) -> Iterator[bytes]:
        left = size
        while left > 0:
            if self._at == len(self._buffer):
                self._buffer, self._at = next(self._chunks, b""), 0
                if not self._buffer:
                    raise BundleDigestMismatch("the server sent fewer bytes than the files hold")
            n = min(left, len(self._buffer) - self._at)
            yield self._buffer[self._at : self._at + n]
            self._at += n
            left -= n

    def expect_end(self) -> None:
        if self._at < len(self._buffer) or next(self._chunks, b""):
            raise BundleDigestMismatch("the server sent more bytes than the files hold")
