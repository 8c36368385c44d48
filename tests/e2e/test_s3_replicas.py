"""Two replicas with no shared disk: one PostgreSQL, one S3 bucket (moto), own data dirs.

Whatever one replica did, the other serves: bundles, rollbacks, long polls. After a
kill -9 during an upload, every object a record names is in the bucket, complete.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tarmac.agent.client import LiveCodeClient
from tarmac.bundles.s3_blob_store import MIN_PART_SIZE
from tests.e2e.live_state import assert_live_matches_records
from tests.support.bundles import dag_file, make_bundle
from tests.support.process import ServerProcess
from tests.support.reliability_stats import record
from tests.support.s3 import S3Server
from tests.support.server import ADMIN_TOKEN

pytestmark = pytest.mark.postgres


class Replicas:
    def __init__(self, tmp_path: Path, postgres_url: str, s3: S3Server, bucket: str) -> None:
        self.bucket = bucket
        self.s3 = s3
        env = {
            **s3.env(),
            "TARMAC_BLOB_STORE_URL": f"s3://{bucket}/tarmac",
            "TARMAC_S3_PART_SIZE_BYTES": str(MIN_PART_SIZE),
        }
        self.first, self.second = (
            ServerProcess(data_dir=tmp_path / name, database_url=postgres_url, env=env)
            for name in ("replica-a", "replica-b")
        )

    def key(self, sha: str) -> str:
        return f"tarmac/blobs/{sha[:2]}/{sha}"

    def assert_referenced_objects_complete(self, client: httpx.Client, deployment_id: str) -> None:
        """Every bundle a deploy names is in the bucket and hashes to its name."""
        history = client.get(f"/api/v1/deployments/{deployment_id}/deploys").json()["items"]
        s3 = self.s3.client()
        for deploy in history:
            sha = deploy["bundle_sha256"]
            if sha is None:
                continue
            body = s3.get_object(Bucket=self.bucket, Key=self.key(sha))["Body"].read()
            assert hashlib.sha256(body).hexdigest() == sha


@pytest.fixture
def replicas(tmp_path: Path, postgres_url: str, s3_server: S3Server) -> Iterator[Replicas]:
    pair = Replicas(tmp_path, postgres_url, s3_server, s3_server.new_bucket())
    pair.first.start()
    pair.second.start()
    try:
        yield pair
    finally:
        pair.second.stop()
        pair.first.stop()


def new_deployment(client: httpx.Client) -> dict[str, Any]:
    dep: dict[str, Any] = client.post(
        "/api/v1/deployments",
        json={"name": "shared", "runtime_version": "12.4.0", "dag_deploy_mode": "dag_deploy"},
    ).json()
    client.patch(f"/api/v1/deployments/{dep['id']}", json={"rollback_enabled": True})
    return dep


def push(client: httpx.Client, deployment_id: str, bundle: bytes) -> httpx.Response:
    return client.post(
        f"/api/v1/deployments/{deployment_id}/deploys",
        data={"type": "DAG_ONLY"},
        files={"dags": ("d.tgz", bundle, "application/gzip")},
    )


def long_poll(client: httpx.Client, deployment_id: str, etag: str) -> httpx.Response:
    return client.get(
        f"/api/v1/deployments/{deployment_id}/dags/current",
        params={"wait": 60},
        headers={"If-None-Match": etag},
    )


def test_deploy_on_one_replica_is_served_rolled_back_and_long_polled_on_the_other(
    replicas: Replicas, tmp_path: Path
) -> None:
    a, b = replicas.first, replicas.second
    v1, v2 = (make_bundle({f"{n}.py": dag_file(n)}) for n in ("v1", "v2"))
    by_sha = {hashlib.sha256(x).hexdigest(): x for x in (v1, v2)}
    with a.client() as on_a, b.client() as on_b, ThreadPoolExecutor(2) as pool:
        dep = new_deployment(on_a)
        base = f"/api/v1/deployments/{dep['id']}"
        first = push(on_a, dep["id"], v1).json()
        # B never saw the upload: it serves the bytes from the bucket, and a URL to them.
        assert on_b.get(f"/api/v1/blobs/{first['bundle_sha256']}").content == v1
        current = on_b.get(f"{base}/dags/current")
        assert httpx.get(current.json()["download_url"]).content == v1
        agent = LiveCodeClient(server_url=b.url, token=ADMIN_TOKEN, deployment_id=dep["id"])
        live = agent.current()
        assert live is not None and live.bundle_sha256 == first["bundle_sha256"]
        agent.download(live.bundle_sha256, into=tmp_path / "agent.tgz")
        assert (tmp_path / "agent.tgz").read_bytes() == v1
        assert (agent.direct_downloads, agent.api_downloads) == (1, 0)
        agent.close()
        # An agent long-polling B wakes up for a deploy made through A.
        waiting = pool.submit(long_poll, on_b, dep["id"], current.headers["etag"])
        second = push(on_a, dep["id"], v2).json()
        woken = waiting.result(timeout=90)
        assert woken.status_code == 200 and woken.json()["deploy_id"] == second["id"]
        # B rolls back to the first deploy; its own disk never held either bundle.
        etag = woken.headers["etag"]
        waiting = pool.submit(long_poll, on_a, dep["id"], etag)
        rolled = on_b.post(f"{base}/deploys/{first['id']}/rollback", json={"description": "x"})
        assert rolled.status_code == 201, rolled.text
        woken = waiting.result(timeout=90)
        assert woken.json()["deploy_id"] == rolled.json()["id"]
        assert woken.json()["bundle_sha256"] == first["bundle_sha256"]
        assert_live_matches_records(
            on_b, data_dir=b.data_dir, deployment=dep, bundles_by_sha=by_sha
        )
        assert not (a.data_dir / "blobs").exists() and not (b.data_dir / "blobs").exists()
    # A third replica starting on an empty disk makes the live code from the bucket.
    third = ServerProcess(
        data_dir=tmp_path / "replica-c", database_url=a.database_url, env=a.extra_env
    )
    third.start()
    try:
        with third.client() as on_c:
            assert_live_matches_records(
                on_c, data_dir=third.data_dir, deployment=dep, bundles_by_sha=by_sha
            )
    finally:
        third.stop()


@pytest.mark.parametrize(
    ("killed", "point"),
    [("first", "s3_mid_upload"), ("second", "s3_mid_upload"), ("first", "before_commit")],
)
def test_kill_during_upload_leaves_no_partial_or_missing_object(
    replicas: Replicas, killed: str, point: str
) -> None:
    victim = getattr(replicas, killed)
    other = replicas.second if victim is replicas.first else replicas.first
    # Larger than one part, and incompressible: a real multipart upload.
    big = make_bundle({"etl.py": dag_file("etl"), "data.bin": os.urandom(2 * MIN_PART_SIZE)})
    big_sha = hashlib.sha256(big).hexdigest()
    with other.client() as client:
        dep = new_deployment(client)
        assert push(client, dep["id"], make_bundle({"a.py": dag_file("a")})).status_code == 201
    victim.stop()
    victim.start(failpoints=point)
    with victim.client() as client, pytest.raises(httpx.TransportError):
        push(client, dep["id"], big)
    assert victim.wait_exit() != 0
    keys = replicas.s3.keys(replicas.bucket)
    if point == "s3_mid_upload":
        # Died mid-upload: the parts sent are invisible, no key names the bundle.
        assert replicas.key(big_sha) not in keys
        assert len(replicas.s3.multipart_uploads(replicas.bucket)) == 1
    with other.client() as client:
        replicas.assert_referenced_objects_complete(client, dep["id"])
        history = client.get(f"/api/v1/deployments/{dep['id']}/deploys").json()["items"]
        assert big_sha not in {d["bundle_sha256"] for d in history}
        # The survivor takes the same upload; the restarted victim serves it.
        assert push(client, dep["id"], big).status_code == 201
    victim.start()
    with victim.client() as client:
        assert client.get(f"/api/v1/blobs/{big_sha}").content == big
        replicas.assert_referenced_objects_complete(client, dep["id"])
        # Cleanup aborts the interrupted multipart upload (moto dates every upload 2010).
        cleaned = client.post(
            "/api/v1/admin/cleanup-deploy-revisions", json={"older_than_days": 90}
        )
        assert cleaned.status_code == 200, cleaned.text
    assert replicas.s3.multipart_uploads(replicas.bucket) == []
    assert replicas.key(big_sha) in replicas.s3.keys(replicas.bucket)
    record("fault", point=point, test=f"S3 upload, {killed} replica killed", database="postgres")
