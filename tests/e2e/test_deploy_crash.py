"""kill -9 while a deploy is made live: after restart the code state is old or new, never a mix."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from tests.e2e.live_state import assert_live_matches_records
from tests.support.bundles import dag_file, make_bundle
from tests.support.process import ServerProcess
from tests.support.reliability_stats import record


@pytest.mark.parametrize("point", ["between_spec_and_swap", "after_swap", "before_commit"])
def test_crash_during_deploy_recovers_to_old_or_new(server: ServerProcess, point: str) -> None:
    old = make_bundle({"old.py": dag_file("old")})
    new = make_bundle({"new.py": dag_file("new"), "shared.py": "x = 1\n"})
    by_sha = {hashlib.sha256(b).hexdigest(): b for b in (old, new)}
    with server.client() as admin:
        dep = admin.post(
            "/api/v1/deployments",
            json={"name": "crashy", "runtime_version": "12.4.0", "dag_deploy_mode": "dag_deploy"},
        ).json()
        first = admin.post(
            f"/api/v1/deployments/{dep['id']}/deploys",
            data={"type": "DAG_ONLY"},
            files={"dags": ("d.tgz", old, "application/gzip")},
        ).json()
    server.stop()
    server.start(failpoints=point)
    with server.client() as admin, pytest.raises(httpx.TransportError):
        admin.post(
            f"/api/v1/deployments/{dep['id']}/deploys",
            data={"type": "DAG_ONLY"},
            files={"dags": ("d.tgz", new, "application/gzip")},
        )
    assert server.wait_exit() != 0  # it really died mid-deploy
    server.start()
    with server.client() as admin:
        current = assert_live_matches_records(
            admin, data_dir=server.data_dir, deployment=dep, bundles_by_sha=by_sha
        )
        history = admin.get(f"/api/v1/deployments/{dep['id']}/deploys").json()["items"]
        assert all(d["status"] in ("DEPLOYED", "FAILED") for d in history)
        # Killed before the commit, the new deploy was never recorded: the old one is live.
        assert current["id"] == first["id"]
        # And the server takes new deploys normally afterwards.
        again = admin.post(
            f"/api/v1/deployments/{dep['id']}/deploys",
            data={"type": "DAG_ONLY"},
            files={"dags": ("d.tgz", new, "application/gzip")},
        )
        assert again.status_code == 201
        assert_live_matches_records(
            admin, data_dir=server.data_dir, deployment=dep, bundles_by_sha=by_sha
        )
    record("fault", point=point, test="deploy")
