"""kill -9 in the middle of a rollback: after restart the Deployment is on old or new code."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from tests.e2e.live_state import assert_live_matches_records
from tests.support.bundles import dag_file, make_bundle
from tests.support.process import ServerProcess
from tests.support.reliability_stats import record


@pytest.mark.parametrize("point", ["between_spec_and_swap", "after_swap", "before_commit"])
def test_crash_during_rollback(server: ServerProcess, point: str) -> None:
    v1_bundle = make_bundle({"v1.py": dag_file("v1")})
    v2_bundle = make_bundle({"v2.py": dag_file("v2")})
    by_sha = {hashlib.sha256(b).hexdigest(): b for b in (v1_bundle, v2_bundle)}
    with server.client() as admin:
        dep = admin.post(
            "/api/v1/deployments",
            json={"name": "crash", "runtime_version": "12.4.0", "dag_deploy_mode": "dag_deploy"},
        ).json()
        base = f"/api/v1/deployments/{dep['id']}"
        v1 = admin.post(
            f"{base}/deploys",
            data={"type": "IMAGE_AND_DAG", "image": "img:1"},
            files={"dags": ("d.tgz", v1_bundle, "application/gzip")},
        ).json()
        v2 = admin.post(
            f"{base}/deploys",
            data={"type": "IMAGE_AND_DAG", "image": "img:2"},
            files={"dags": ("d.tgz", v2_bundle, "application/gzip")},
        ).json()
        admin.patch(base, json={"rollback_enabled": True})
        env_before = admin.get(base).json()
    server.stop()
    server.start(failpoints=point)
    with server.client() as admin, pytest.raises(httpx.TransportError):
        admin.post(f"{base}/deploys/{v1['id']}/rollback", json={"description": "v2 broke"})
    assert server.wait_exit() != 0
    server.start()
    with server.client() as admin:
        current = assert_live_matches_records(
            admin, data_dir=server.data_dir, deployment=dep, bundles_by_sha=by_sha
        )
        assert current["id"] == v2["id"]  # killed before the commit: still on the old code
        after = admin.get(base).json()
        assert {k: after[k] for k in ("env_vars", "resources", "runtime_version")} == {
            k: env_before[k] for k in ("env_vars", "resources", "runtime_version")
        }
        # The same rollback goes through after the restart.
        done = admin.post(f"{base}/deploys/{v1['id']}/rollback", json={"description": "retry"})
        assert done.status_code == 201
        current = assert_live_matches_records(
            admin, data_dir=server.data_dir, deployment=dep, bundles_by_sha=by_sha
        )
        assert current["bundle_sha256"] == v1["bundle_sha256"]
    record("fault", point=point, test="rollback")
