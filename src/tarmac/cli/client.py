"""A small HTTP client that turns API errors into one exception the CLI prints."""

from __future__ import annotations

from typing import Any

import httpx

from tarmac.cli.config import ClientConfig


class ApiError(Exception):
    """An error response from the server, or no server at all."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int | None = None,
        body: Any = None,
        hint: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.body = body
        self.hint = hint  # the next command to try, when the CLI knows it


class TarmacClient:
    def __init__(self, config: ClientConfig, *, timeout: float = 60.0) -> None:
        headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
        self.config = config
        self._http = httpx.Client(base_url=config.server, headers=headers, timeout=timeout)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiError(
                f"cannot reach the tarmac server at {self.config.server}: {exc}",
                code="unreachable",
            ) from exc
        return self.decode(response)

    @staticmethod
    def decode(response: httpx.Response) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success:
            return body
        error = body.get("error", {}) if isinstance(body, dict) else {}
        raise ApiError(
            error.get("message") or f"HTTP {response.status_code}",
            code=error.get("code", "http_error"),
            status=response.status_code,
            body=error,
        )

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.request("PATCH", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs)

    @property
    def http(self) -> httpx.Client:
        return self._http
