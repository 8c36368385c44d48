"""API fuzzing from /openapi.json with schemathesis: generated requests to every endpoint,
with a valid admin token, a viewer's, a bogus one and none, on SQLite and PostgreSQL.

Every answer must be below 500; every 4xx must carry a documented error code; and a 4xx
must leave the database as it was (the audit log of refused rollbacks aside, which is
the point of that log). Examples are derandomised, so a CI failure reproduces.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from sqlalchemy import select

from tarmac.db.base import Base
from tarmac.errors import ERROR_BY_CODE
from tests.support.bundles import dag_file, make_bundle
from tests.support.reliability_stats import record
from tests.support.server import Api, running_tarmac

EXAMPLES_PER_OPERATION = int(os.environ.get("TARMAC_FUZZ_EXAMPLES", "55"))
MIN_REQUESTS = 1000
DOCUMENTED_CODES = set(ERROR_BY_CODE) | {"method_not_allowed"}
UNAUDITED_TABLES = {"events", "leases"}  # refusals are logged; the cleanup lease is not data


@pytest.fixture
def fuzz_api(database_url: str, tmp_path: Path) -> Iterator[Api]:
    with running_tarmac(data_dir=tmp_path / "data", database_url=database_url) as api:
        yield api


class Known:
    """Real ids to put into generated paths, so requests reach objects, not only 404s."""

    def __init__(self, api: Api) -> None:
        self.deployment_id = api.new_deployment("fuzz")["id"]
        path = f"/api/v1/deployments/{self.deployment_id}"
        api.ok(api.patch(path, json={"rollback_enabled": True}))
        first = api.ok(
            api.deploy(self.deployment_id, dags=make_bundle({"a.py": dag_file("a")})), 201
        )
        api.ok(api.deploy(self.deployment_id, dags=make_bundle({"b.py": dag_file("b")})), 201)
        self.deploy_id = first["id"]
        self.sha256 = first["bundle_sha256"]
        self.user_id, viewer = api.new_user("fuzz-viewer", "SYSTEM_VIEWER")
        self.viewer_token = viewer.token
        spare = api.ok(
            api.post(f"/api/v1/users/{self.user_id}/tokens", json={"name": "spare"}), 201
        )
        self.token_id = spare["id"]

    def substitute(self, parameters: dict[str, Any], rng: random.Random) -> None:
        for name, value in {
            "deployment_id": self.deployment_id,
            "deploy_id": self.deploy_id,
            "sha256": self.sha256,
            "user_id": self.user_id,
            "token_id": self.token_id,
        }.items():
            if name in parameters and rng.random() < 0.6:
                parameters[name] = value


def _state(api: Api) -> str:
    """A digest of every row the API can change (all tables but the audit log)."""
    installation = api.client.app.state.installation  # type: ignore[attr-defined]
    digest = hashlib.sha256()
    with installation.database.session() as session:
        for table in Base.metadata.sorted_tables:
            if table.name in UNAUDITED_TABLES:
                continue
            rows = session.execute(select(table).order_by(*table.primary_key.columns)).all()
            digest.update(f"{table.name}:{sorted(map(repr, rows))}".encode())
    return digest.hexdigest()


def _send(api: Api, case: schemathesis.Case, token: str | None) -> Any:
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    headers = {k: v for k, v in kwargs.pop("headers").items() if k.lower() != "authorization"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if isinstance(kwargs.get("data"), bytes | str):
        kwargs["content"] = kwargs.pop("data")
    kwargs.pop("cookies", None)
    if files := kwargs.get("files"):
        pairs = files.items() if isinstance(files, dict) else files
        kwargs["files"] = [(name, _as_file(value)) for name, value in pairs]
    return api.client.request(headers=headers, **kwargs)


def _as_file(value: Any) -> Any:
    """Generated multipart parts as httpx takes them: bytes, in a (name, bytes, type) tuple."""
    if isinstance(value, tuple):
        name, content, *rest = value
        return (name, _as_bytes(content), *rest)
    return ("upload", _as_bytes(value))


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


def test_generated_requests_never_fail_the_server_nor_change_state_when_refused(
    fuzz_api: Api,
) -> None:
    api = fuzz_api
    known = Known(api)
    tokens = {
        "admin": api.token,
        "viewer": known.viewer_token,
        "bogus": "tmc_bogus_token",
        "none": None,
    }
    schema = schemathesis.openapi.from_dict(api.client.app.openapi())  # type: ignore[attr-defined]
    counts = {"requests": 0, "operations": 0, "refused": 0}
    by_token = dict.fromkeys(tokens, 0)
    by_operation: dict[str, int] = {}
    problems: list[str] = []

    for result in schema.get_all_operations():
        operation = result.ok()
        counts["operations"] += 1
        by_operation[operation.label] = 0

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=[hypothesis.Phase.generate],
        )
        def probe(case: schemathesis.Case) -> None:
            rng = random.Random(f"{case.method} {case.path} {counts['requests']}")
            if case.path_parameters:
                known.substitute(case.path_parameters, rng)
            token_kind = list(tokens)[counts["requests"] % len(tokens)]
            before = _state(api)
            response = _send(api, case, tokens[token_kind])
            counts["requests"] += 1
            by_token[token_kind] += 1
            by_operation[case.operation.label] += 1
            where = f"{case.method} {case.formatted_path} -> {response.status_code}"
            if response.status_code >= 500:
                problems.append(f"{where}: {response.text[:300]}")
            elif response.status_code >= 400:
                counts["refused"] += 1
                try:
                    code = response.json()["error"]["code"]
                except (ValueError, KeyError, TypeError):
                    code = None
                if code not in DOCUMENTED_CODES:
                    problems.append(f"{where}: undocumented error {response.text[:300]}")
                if _state(api) != before:
                    problems.append(f"{where}: a refused request changed the database")

        probe()

    assert not problems, "\n".join(problems[:20])
    assert counts["requests"] >= MIN_REQUESTS, counts
    assert all(by_token.values()), by_token  # valid and invalid tokens, and none, all sent
    unreached = [label for label, sent in by_operation.items() if not sent]
    assert not unreached, f"no request generated for {unreached}"
    record(
        "fuzz",
        **counts,
        by_token=by_token,
        fewest_per_operation=min(by_operation.values()),
    )
