"""20 concurrent deploys from separate clients to one Deployment of a real server."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

from tests.e2e.live_state import assert_live_matches_records
from tests.support.bundles import dag_file, make_bundle
from tests.support.process import ServerProcess
from tests.support.reliability_stats import record


def test_twenty_concurrent_deploys_are_all_recorded_without_gaps(server: ServerProcess) -> None:
    with server.client() as admin:
        dep = admin.post(
            "/api/v1/deployments",
            json={"name": "busy", "runtime_version": "12.4.0", "dag_deploy_mode": "dag_deploy"},
        ).json()
    bundles = [make_bundle({f"dag_{i}.py": dag_file(f"dag_{i}")}) for i in range(20)]
    by_sha = {hashlib.sha256(b).hexdigest(): b for b in bundles}

    def push(bundle: bytes) -> int:
        with server.client() as client:  # a separate client and connection each
            response = client.post(
                f"/api/v1/deployments/{dep['id']}/deploys",
                data={"type": "DAG_ONLY"},
                files={"dags": ("dags.tar.gz", bundle, "application/gzip")},
            )
            return response.status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(push, bundles))
    assert statuses == [201] * 20
    with server.client() as admin:
        history = admin.get(
            f"/api/v1/deployments/{dep['id']}/deploys", params={"limit": 100}
        ).json()["items"]
        assert sorted(d["seq"] for d in history) == list(range(1, 21))
        assert {d["bundle_sha256"] for d in history} == set(by_sha)
        assert all(d["status"] == "DEPLOYED" for d in history)
        current = assert_live_matches_records(
            admin, data_dir=server.data_dir, deployment=dep, bundles_by_sha=by_sha
        )
        # The live deploy is the last one committed: the highest sequence number.
        assert current["seq"] == 20
    record("concurrent_writers", writers=len(bundles), test="deploys to one Deployment")
