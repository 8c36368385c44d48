"""Claiming a bundle's files before deleting them: rename aside, put back, or discard."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tarmac.bundles.blob_store import LocalBlobStore
from tarmac.cleanup.bundle_files import BundleFiles


def stored_bundle(tmp_path: Path, payload: bytes = b"bundle bytes") -> tuple[BundleFiles, str]:
    store = LocalBlobStore(tmp_path / "blobs")
    with store.stage([payload], max_bytes=1000) as staged:
        store.commit(staged)
    unpacked = tmp_path / "bundles" / staged.sha256
    unpacked.mkdir(parents=True)
    (unpacked / "dag.py").write_text("# dag\n")
    return BundleFiles(blob_store=store, bundles_dir=tmp_path / "bundles"), staged.sha256


def test_discard_deletes_the_blob_and_the_unpacked_dir(tmp_path: Path) -> None:
    files, sha = stored_bundle(tmp_path)
    claim = files.claim(sha)
    assert not files.exists(sha)  # out of sight as soon as claimed
    assert claim.discard() == (True, True)
    assert list((tmp_path / "bundles").iterdir()) == []
    assert list(files.blob_store.iter_shas()) == []


def test_restore_puts_everything_back(tmp_path: Path) -> None:
    files, sha = stored_bundle(tmp_path)
    claim = files.claim(sha)
    claim.restore()
    assert files.blob_store.exists(sha) and (tmp_path / "bundles" / sha / "dag.py").exists()
    assert claim.discard() == (False, False)  # a restored claim deletes nothing
    assert files.blob_store.exists(sha)


def test_a_touch_just_before_the_claim_shows_on_the_tombstones(tmp_path: Path) -> None:
    started = time.time() - 1
    old = started - 3600
    for name, touched_now in (("idle", False), ("in-use", True)):
        files, sha = stored_bundle(tmp_path / name)
        unpacked = tmp_path / name / "bundles" / sha
        os.utime(files.blob_store.local_path(sha) or "", (old, old))
        os.utime(unpacked, (old, old))
        if touched_now:
            os.utime(unpacked)  # what a deploy's prepare() does to a bundle it reuses
        # Renaming does not change an mtime, so the claim sees exactly what came before.
        assert files.claim(sha).touched_since(started) is touched_now


def test_restore_keeps_what_a_deploy_stored_meanwhile(tmp_path: Path) -> None:
    files, sha = stored_bundle(tmp_path)
    claim = files.claim(sha)
    again, _ = stored_bundle(tmp_path)  # the same bytes uploaded and unpacked anew
    claim.restore()
    assert again.blob_store.exists(sha) and (tmp_path / "bundles" / sha / "dag.py").exists()
    assert [p.name for p in (tmp_path / "bundles").iterdir()] == [sha]
    shard = files.blob_store.local_path(sha)
    assert shard is not None and [p.name for p in shard.parent.iterdir()] == [sha]


def test_stale_tombstones_are_removed(tmp_path: Path) -> None:
    files, sha = stored_bundle(tmp_path)
    files.claim(sha)  # as if the process died before committing
    files.remove_stale_tombstones(older_than=time.time() + 1)
    assert list((tmp_path / "bundles").iterdir()) == []
    assert not any(p.is_file() for p in (tmp_path / "blobs").rglob("*"))
