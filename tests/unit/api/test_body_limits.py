"""Each endpoint's body limit fits its largest legitimate body (built at the schemas'
own maximums), so the limits refuse only what no real request needs."""

from __future__ import annotations

import json

from tarmac.api.body_limits import (
    BLOB_FILES_REQUEST_BYTES,
    DEPLOYMENT_JSON_BYTES,
    ROLLBACK_JSON_BYTES,
    SMALL_JSON_BYTES,
    body_rule,
)
from tarmac.bundles.limits import BundleLimits

UPLOAD = 1024**3


def _size(body: object) -> int:
    return len(json.dumps(body).encode())  # ensure_ascii: every non-ASCII char as \uXXXX


def test_the_largest_rollback_body_fits() -> None:
    body = {
        "description": "é" * 500,
        "dry_run": False,
        "acknowledge": ["restricted_runtime"] * 10,
    }
    rule = body_rule(
        method="POST", path="/api/v1/deployments/d/deploys/x/rollback", max_upload_bytes=UPLOAD
    )
    assert rule.max_bytes == ROLLBACK_JSON_BYTES
    assert _size(body) <= rule.max_bytes


def test_a_delta_request_for_every_file_of_the_largest_bundle_fits() -> None:
    """An agent may lack every file of a bundle at the member limit (100,000 by default)."""
    body = {"sha256": ["a" * 64] * BundleLimits().max_members}
    rule = body_rule(
        method="POST", path="/api/v1/blobs/" + "b" * 64 + "/files", max_upload_bytes=UPLOAD
    )
    assert rule.max_bytes == BLOB_FILES_REQUEST_BYTES
    assert _size(body) <= rule.max_bytes


def test_a_deployment_with_a_thousand_environment_variables_fits() -> None:
    body = {
        "name": "n" * 100,
        "description": "é" * 2000,
        "runtime_version": "12.4.0",
        "dag_deploy_mode": "dag_deploy",
        "resources": {"scheduler": {"replicas": 2, "cpu": "1"}},
        "env_vars": [
            {"key": f"VARIABLE_{i:04d}_" + "K" * 40, "value": "v" * 900, "is_secret": True}
            for i in range(1000)
        ],
    }
    for method, path in (("POST", "/api/v1/deployments"), ("PATCH", "/api/v1/deployments/d")):
        rule = body_rule(method=method, path=path, max_upload_bytes=UPLOAD)
        assert rule.max_bytes == DEPLOYMENT_JSON_BYTES
        assert _size(body) <= rule.max_bytes


def test_small_endpoints_fit_their_largest_bodies() -> None:
    bodies = {
        "/api/v1/users": {
            "username": "u" * 64,
            "system_role": "SYSTEM_ADMIN",
            "password": "p" * 1024,
        },
        "/api/v1/users/u/tokens": {"name": "é" * 100, "deployment_id": "d" * 32},
        "/api/v1/admin/cleanup-deploy-revisions": {"older_than_days": 90, "dry_run": True},
    }
    for path, body in bodies.items():
        rule = body_rule(method="POST", path=path, max_upload_bytes=UPLOAD)
        assert rule.max_bytes == SMALL_JSON_BYTES
        assert _size(body) <= rule.max_bytes


def test_the_bundle_upload_keeps_its_configured_limit() -> None:
    rule = body_rule(method="POST", path="/api/v1/deployments/d/deploys", max_upload_bytes=UPLOAD)
    assert rule.upload and rule.max_bytes > UPLOAD and rule.needs_token


def test_the_ui_and_health_need_no_token_first() -> None:
    assert not body_rule(method="POST", path="/ui/login", max_upload_bytes=UPLOAD).needs_token
    assert body_rule(method="POST", path="/api/v1/users", max_upload_bytes=UPLOAD).needs_token
