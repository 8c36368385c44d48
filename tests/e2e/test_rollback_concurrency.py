"""A rollback racing 10 concurrent deploys: all serialised, none lost, last commit is live."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.e2e.live_state import assert_live_matches_records
from tests.support.bundles import dag_file, make_bundle
from tests.support.process import ServerProcess
from tests.support.reliability_stats import record


def _setup(server: ServerProcess) -> tuple[dict[str, Any], dict[str, Any], dict[str, bytes]]:
    bundles = {}
    with server.client() as admin:
        dep = admin.post(
            "/api/v1/deployments",
            json={"name": "race", "runtime_version": "12.4.0", "dag_deploy_mode": "dag_deploy"},
        ).json()
        v1_bundle = make_bundle({"v1.py": dag_file("v1")})
        bundles[hashlib.sha256(v1_bundle).hexdigest()] = v1_bundle
        v1 = admin.post(
            f"/api/v1/deployments/{dep['id']}/deploys",
            data={"type": "IMAGE_AND_DAG", "image": "img:1"},
            files={"dags": ("d.tgz", v1_bundle, "application/gzip")},
        ).json()
        # A second deploy, so the rollback to v1 is a real change whichever request runs first.
        v2_bundle = make_bundle({"v2.py": dag_file("v2")})
        bundles[hashlib.sha256(v2_bundle).hexdigest()] = v2_bundle
        admin.post(
            f"/api/v1/deployments/{dep['id']}/deploys",
            data={"type": "DAG_ONLY"},
            files={"dags": ("d.tgz", v2_bundle, "application/gzip")},
        )
        # Holds off: this test is about serialisation, and a hold would refuse every deploy
        # that commits after the rollback (tests/integration/test_rollback_hold.py).
        admin.patch(
            f"/api/v1/deployments/{dep['id']}",
            json={"rollback_enabled": True, "rollback_hold_enabled": False},
        )
    return dep, v1, bundles


def test_rollback_racing_ten_deploys(server: ServerProcess) -> None:
    dep, v1, by_sha = _setup(server)
    pushes = [make_bundle({f"d{i}.py": dag_file(f"d{i}")}) for i in range(10)]
    by_sha.update({hashlib.sha256(b).hexdigest(): b for b in pushes})

    def deploy(bundle: bytes) -> tuple[str, int, Any]:
        with server.client() as client:
            r = client.post(
                f"/api/v1/deployments/{dep['id']}/deploys",
                data={"type": "DAG_ONLY"},
                files={"dags": ("d.tgz", bundle, "application/gzip")},
            )
            return "deploy", r.status_code, r.json()

    def roll_back() -> tuple[str, int, Any]:
        with server.client() as client:
            r = client.post(
                f"/api/v1/deployments/{dep['id']}/deploys/{v1['id']}/rollback",
                json={"description": "race"},
            )
            return "rollback", r.status_code, r.json()

    with ThreadPoolExecutor(max_workers=11) as pool:
        futures = [pool.submit(deploy, b) for b in pushes[:5]]
        futures.append(pool.submit(roll_back))
        futures += [pool.submit(deploy, b) for b in pushes[5:]]
        results = [f.result() for f in futures]
    assert [status for _kind, status, _body in results] == [201] * 11, results
    rollback_deploy = next(body for kind, _s, body in results if kind == "rollback")
    with server.client() as admin:
        history = admin.get(
            f"/api/v1/deployments/{dep['id']}/deploys", params={"limit": 100}
        ).json()["items"]
        assert sorted(d["seq"] for d in history) == list(range(1, 14))
        assert all(d["status"] == "DEPLOYED" for d in history)
        rolled = [d for d in history if d["rollback_from_id"] == v1["id"]]
        assert [d["id"] for d in rolled] == [rollback_deploy["id"]]
        assert rolled[0]["bundle_sha256"] == v1["bundle_sha256"]
        current = assert_live_matches_records(
            admin, data_dir=server.data_dir, deployment=dep, bundles_by_sha=by_sha
        )
        assert current["seq"] == 13  # the last one committed is the live one
    record("concurrent_writers", writers=len(results), test="deploys racing a rollback")
