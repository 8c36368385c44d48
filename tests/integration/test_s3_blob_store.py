"""The S3 blob store against a real S3 API server process (moto), and tarmac on top of it."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tarmac.bundles.s3_blob_store import MIN_PART_SIZE, S3BlobStore, parse_s3_url
from tarmac.cleanup.service import cleanup_deploy_revisions
from tarmac.errors import ConfigurationError, InvalidBundle, NotFound
from tests.support.bundles import dag_file, make_bundle
from tests.support.s3 import S3Server
from tests.support.server import Api, running_tarmac


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """The standard AWS variables pointing at moto; returns a fresh bucket's name."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return s3_server.new_bucket()


@pytest.fixture
def store(s3_env: str, tmp_path: Path) -> S3BlobStore:
    return S3BlobStore(
        parse_s3_url(f"s3://{s3_env}/team/tarmac"),
        staging_dir=tmp_path / "staging",
        part_size=MIN_PART_SIZE,
    )


def test_s3_url_is_parsed_or_refused() -> None:
    assert parse_s3_url("s3://b/p/q/").prefix == "p/q/"
    assert parse_s3_url("s3://b").prefix == ""
    for bad in ("https://b/p", "s3:///p", "s3://b/p?x=1", "b/p"):
        with pytest.raises(ConfigurationError):
            parse_s3_url(bad)


def test_blob_round_trip_under_its_prefix(store: S3BlobStore, s3_server: S3Server) -> None:
    data = b"bundle bytes" * 1000
    sha = hashlib.sha256(data).hexdigest()
    with store.stage([data], max_bytes=len(data)) as staged:
        assert store.commit(staged) is True
    assert not staged.path.exists()
    assert s3_server.keys(store.location.bucket) == {f"team/tarmac/blobs/{sha[:2]}/{sha}"}
    assert store.exists(sha) and store.size(sha) == len(data)
    with store.open(sha) as blob:
        assert blob.read() == data
    assert list(store.iter_shas()) == [sha]
    with store.stage([data], max_bytes=len(data)) as again:
        assert store.commit(again) is False  # already stored: only touched
    assert store.delete(sha) is True and store.delete(sha) is False
    with pytest.raises(NotFound):
        store.open(sha)


def test_large_upload_goes_multipart_and_completes(store: S3BlobStore, s3_server: S3Server) -> None:
    data = os.urandom(2 * MIN_PART_SIZE + 12345)
    sha = hashlib.sha256(data).hexdigest()
    chunks = (data[i : i + 65536] for i in range(0, len(data), 65536))
    with store.stage(chunks, max_bytes=len(data)) as staged:
        store.commit(staged)
    head = s3_server.client().head_object(Bucket=store.location.bucket, Key=store.key(sha))
    assert head["ETag"].strip('"').endswith("-3")  # three parts
    with store.open(sha) as blob:
        assert hashlib.sha256(blob.read()).hexdigest() == sha
    assert s3_server.multipart_uploads(store.location.bucket) == []


def test_oversized_upload_stores_nothing(store: S3BlobStore, s3_server: S3Server) -> None:
    with pytest.raises(InvalidBundle):
        store.stage([b"x" * 100, b"y" * 100], max_bytes=150)
    assert s3_server.keys(store.location.bucket) == set()
    assert list(store.staging_root.iterdir()) == []


def test_presigned_url_serves_the_blob_without_credentials(store: S3BlobStore) -> None:
    data = b"signed"
    sha = hashlib.sha256(data).hexdigest()
    with store.stage([data], max_bytes=10) as staged:
        store.commit(staged)
    url = store.presigned_url(sha, expires_seconds=60)
    assert "Signature" in url
    assert httpx.get(url).content == data


def test_stale_multipart_uploads_are_aborted(store: S3BlobStore, s3_server: S3Server) -> None:
    # moto reports one fixed date (2010) as every upload's Initiated, so that a recent
    # upload is spared cannot be shown here; the comparison is one line in the store.
    client = s3_server.client()
    bucket = store.location.bucket
    key = store.key("a" * 64)
    upload = client.create_multipart_upload(Bucket=bucket, Key=key)
    client.upload_part(
        Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * 100
    )
    assert len(s3_server.multipart_uploads(bucket)) == 1
    assert store.abort_stale_uploads(older_than=time.time() + 5) == 1
    assert s3_server.multipart_uploads(bucket) == []
    assert s3_server.keys(bucket) == set()


@pytest.fixture
def s3_api(database_url: str, tmp_path: Path, s3_env: str) -> Iterator[Api]:
    with running_tarmac(
        data_dir=tmp_path / "data",
        database_url=database_url,
        blob_store_url=f"s3://{s3_env}/tarmac",
        s3_part_size_bytes=MIN_PART_SIZE,
    ) as admin:
        yield admin


def test_deploys_store_bundles_in_the_bucket_and_hand_out_urls(
    s3_api: Api, s3_server: S3Server, s3_env: str, tmp_path: Path
) -> None:
    dep = s3_api.new_deployment()
    dags = make_bundle({"etl.py": dag_file("etl")})
    sha = hashlib.sha256(dags).hexdigest()
    s3_api.ok(s3_api.deploy(dep["id"], dags=dags), 201)
    assert s3_server.keys(s3_env) == {f"tarmac/blobs/{sha[:2]}/{sha}"}
    assert not (tmp_path / "data" / "blobs").exists()
    current = s3_api.ok(s3_api.get(f"/api/v1/deployments/{dep['id']}/dags/current"))
    assert current["bundle_sha256"] == sha
    assert httpx.get(current["download_url"]).content == dags
    # The API still serves the same bytes, streamed from the bucket.
    assert s3_api.get(f"/api/v1/blobs/{sha}").content == dags


def test_cleanup_deletes_unreferenced_and_orphan_objects(
    s3_api: Api, s3_server: S3Server, s3_env: str
) -> None:
    dep = s3_api.new_deployment()
    old, live = (make_bundle({"etl.py": dag_file("etl", marker=m)}) for m in "ab")
    first = s3_api.ok(s3_api.deploy(dep["id"], dags=old), 201)
    s3_api.ok(s3_api.deploy(dep["id"], dags=live), 201)
    installation = s3_api.client.app.state.installation  # type: ignore[attr-defined]
    store = installation.blob_store
    assert isinstance(store, S3BlobStore)
    # An object no record names: a replica killed after its upload, before its commit.
    orphan = b"orphan bytes"
    with store.stage([orphan], max_bytes=100) as staged:
        store.commit(staged)
    live_sha = hashlib.sha256(live).hexdigest()
    keys_before = s3_server.keys(s3_env)
    assert len(keys_before) == 3
    # Cleanup keeps what was touched at or after it starts: let the clock pass the newest
    # LastModified (whole seconds in S3) and unpacked folder, as any later cleanup would.
    touched = [
        installation.data_dir / "bundles" / hashlib.sha256(b).hexdigest() for b in (old, live)
    ]
    newest = max(
        *(store.last_modified(hashlib.sha256(b).hexdigest()) or 0.0 for b in (old, live, orphan)),
        *(p.stat().st_mtime for p in touched if p.exists()),
    )
    while time.time() <= newest:
        time.sleep(0.05)

    report = cleanup_deploy_revisions(
        database=installation.database,
        blob_store=store,
        bundles_dir=installation.data_dir / "bundles",
        older_than_days=0,
        dry_run=False,
        actor="test",
        grace_seconds=0,
        in_use_seconds=0,
    )

    assert report.deleted_deploys == 1
    assert report.deleted_blobs == 2  # the expired deploy's bundle and the orphan
    assert s3_server.keys(s3_env) == {store.key(live_sha)}
    history = s3_api.history(dep["id"])
    assert first["id"] not in {d["id"] for d in history}
    assert s3_api.get(f"/api/v1/blobs/{live_sha}").content == live


def test_recently_reused_object_is_kept(s3_api: Api, s3_server: S3Server, s3_env: str) -> None:
    installation = s3_api.client.app.state.installation  # type: ignore[attr-defined]
    store = installation.blob_store
    with store.stage([b"recent"], max_bytes=100) as staged:
        store.commit(staged)
    report = cleanup_deploy_revisions(
        database=installation.database,
        blob_store=store,
        bundles_dir=installation.data_dir / "bundles",
        older_than_days=0,
        dry_run=False,
        actor="test",
        grace_seconds=0,
        in_use_seconds=3600,
    )
    assert report.deleted_blobs == 0 and report.kept_in_use_bundles == 1
    assert len(s3_server.keys(s3_env)) == 1


def test_a_replica_starts_even_if_a_live_bundle_is_missing_from_the_bucket(
    s3_api: Api, s3_server: S3Server, s3_env: str, database_url: str, tmp_path: Path
) -> None:
    broken, fine = s3_api.new_deployment("broken"), s3_api.new_deployment("fine")
    lost = make_bundle({"etl.py": dag_file("etl", marker="lost")})
    s3_api.ok(s3_api.deploy(broken["id"], dags=lost), 201)
    s3_api.ok(s3_api.deploy(fine["id"], dags=make_bundle({"ok.py": dag_file("ok")})), 201)
    lost_sha = hashlib.sha256(lost).hexdigest()
    s3_server.client().delete_object(Bucket=s3_env, Key=f"tarmac/blobs/{lost_sha[:2]}/{lost_sha}")
    # A new replica, empty disk: recovery rebuilds what it can from the bucket.
    with running_tarmac(
        data_dir=tmp_path / "fresh",
        database_url=database_url,
        blob_store_url=f"s3://{s3_env}/tarmac",
    ) as fresh:
        assert fresh.get("/healthz").status_code == 200
        release = fine["release_name"]
        assert (tmp_path / "fresh" / "deployments" / release / "dags" / "ok.py").is_file()
        assert not (tmp_path / "fresh" / "deployments" / broken["release_name"]).exists()
