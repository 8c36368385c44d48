"""Two server processes on one database and data dir: deploys stay serialised across them."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.e2e.live_state import assert_live_matches_records
from tests.support.bundles import dag_file, make_bundle
from tests.support.process import ServerProcess
from tests.support.reliability_stats import record


def test_concurrent_deploys_through_two_replicas(database_url: str, tmp_path: Path) -> None:
    first = ServerProcess(data_dir=tmp_path / "data", database_url=database_url)
    first.start()
    second = ServerProcess(data_dir=tmp_path / "data", database_url=database_url)
    second.start()
    try:
        with first.client() as admin:
            dep = admin.post(
                "/api/v1/deployments",
                json={
                    "name": "shared",
                    "runtime_version": "12.4.0",
                    "dag_deploy_mode": "dag_deploy",
                },
            ).json()
        bundles = [make_bundle({f"d{i}.py": dag_file(f"d{i}")}) for i in range(16)]
        by_sha = {hashlib.sha256(b).hexdigest(): b for b in bundles}

        def push(index: int) -> int:
            replica = (first, second)[index % 2]
            with replica.client() as client:
                return client.post(
                    f"/api/v1/deployments/{dep['id']}/deploys",
                    data={"type": "DAG_ONLY"},
                    files={"dags": ("d.tgz", bundles[index], "application/gzip")},
                ).status_code

        with ThreadPoolExecutor(max_workers=16) as pool:
            assert list(pool.map(push, range(16))) == [201] * 16
        for replica in (first, second):
            with replica.client() as client:
                history = client.get(
                    f"/api/v1/deployments/{dep['id']}/deploys", params={"limit": 100}
                ).json()["items"]
                assert sorted(d["seq"] for d in history) == list(range(1, 17))
                current = assert_live_matches_records(
                    client, data_dir=first.data_dir, deployment=dep, bundles_by_sha=by_sha
                )
                assert current["seq"] == 16
        record("concurrent_writers", writers=len(bundles), test="deploys through two replicas")
    finally:
        second.stop()
        first.stop()
