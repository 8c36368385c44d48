"""An in-process tarmac for integration tests: the real app over real HTTP semantics."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from tarmac.api.app import create_app
from tarmac.demo.sample import VALUES_YAML
from tarmac.settings import load_settings

ADMIN_TOKEN = "tmc_test_admin_token"

# Every installation flag on (rollbacks, DAG-only deploys, cleanup at 90 days): the demo's.
ALL_FLAGS_ON = VALUES_YAML


class Api:
    """A client acting as one user, with helpers that fail loudly on surprises."""

    def __init__(self, client: TestClient, token: str | None) -> None:
        self.client = client
        self.token = token

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**headers, **(extra or {})}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = self.headers(kwargs.pop("headers", None))
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def ok(self, response: httpx.Response, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json()

    def as_token(self, token: str | None) -> Api:
        return Api(self.client, token)

    def new_user(self, username: str, system_role: str | None = None) -> tuple[str, Api]:
        """Create a user with a token; returns its id and an Api acting as it."""
        user = self.ok(
            self.post("/api/v1/users", json={"username": username, "system_role": system_role}),
            201,
        )
        token = self.ok(self.post(f"/api/v1/users/{user['id']}/tokens", json={"name": "t"}), 201)
        return user["id"], self.as_token(token["token"])

    def deploy(
        self,
        deployment_id: str,
        *,
        type: str = "DAG_ONLY",
        dags: bytes | None = None,
        image: str | None = None,
        runtime_version: str | None = None,
        description: str | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """POST a deploy as multipart, like the CLI does."""
        data = {"type": type}
        for key, value in (
            ("image", image),
            ("runtime_version", runtime_version),
            ("description", description),
        ):
            if value is not None:
                data[key] = value
        files = {"dags": ("dags.tar.gz", dags, "application/gzip")} if dags is not None else None
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self.post(
            f"/api/v1/deployments/{deployment_id}/deploys", data=data, files=files, headers=headers
        )

    def history(self, deployment_id: str) -> list[dict[str, Any]]:
        """Every deploy of a Deployment, newest first, following the cursor."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            page = self.ok(self.get(f"/api/v1/deployments/{deployment_id}/deploys", params=params))
            items.extend(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                return items

    def new_deployment(self, name: str = "sales", **fields: Any) -> dict[str, Any]:
        body = {"name": name, "runtime_version": "12.4.0", "dag_deploy_mode": "dag_deploy"}
        return self.ok(self.post("/api/v1/deployments", json={**body, **fields}), 201)  # type: ignore[no-any-return]


@contextmanager
def running_tarmac(
    *, data_dir: Path, database_url: str, values: str | None = ALL_FLAGS_ON, **settings: Any
) -> Iterator[Api]:
    """Start the app (migrations, bootstrap admin) and yield an Api acting as ``admin``."""
    values_file = None
    if values is not None:
        values_file = data_dir / "values.yaml"
        data_dir.mkdir(parents=True, exist_ok=True)
        values_file.write_text(values)
    defaults: dict[str, Any] = {"bootstrap_token": ADMIN_TOKEN, "secret_key": "test-secret-key"}
    config = load_settings(
        data_dir=data_dir,
        database_url=database_url,
        values_file=values_file,
        **{**defaults, **settings},
    )
    with TestClient(create_app(config), raise_server_exceptions=True) as client:
        yield Api(client, ADMIN_TOKEN)
