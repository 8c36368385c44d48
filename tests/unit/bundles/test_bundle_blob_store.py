"""LocalBlobStore: staging, content-addressed commit, reads and deletes."""

from __future__ import annotations

import hashlib
import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tarmac.bundles.blob_store import BlobStore, LocalBlobStore
from tarmac.errors import InvalidBundle, InvalidRequest, NotFound


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if not p.is_dir())


def test_local_store_satisfies_the_protocol(tmp_path: Path) -> None:
    store: BlobStore = LocalBlobStore(tmp_path)
    assert store.local_path("0" * 64) is None


def test_stage_and_commit_stores_by_sha256(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    data = b"bundle bytes"
    sha = hashlib.sha256(data).hexdigest()

    with store.stage([data[:5], data[5:]], max_bytes=100) as staged:
        assert (staged.sha256, staged.size) == (sha, len(data))
        assert staged.path.read_bytes() == data
        assert store.commit(staged) is True

    blob = tmp_path / "blobs" / sha[:2] / sha
    assert _files(tmp_path / "blobs") == [blob]
    assert stat.S_IMODE(blob.stat().st_mode) == 0o444
    assert store.exists(sha) and store.size(sha) == len(data)
    assert store.local_path(sha) == blob
    with store.open(sha) as stored:
        assert stored.read() == data
    assert list(store.iter_shas()) == [sha]


def test_identical_bytes_committed_twice_are_stored_once(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    results = []
    for _ in range(2):
        with store.stage(io.BytesIO(b"same"), max_bytes=100) as staged:
            results.append(store.commit(staged))

    assert results == [True, False]
    assert len(_files(tmp_path)) == 1


def test_staged_blob_is_deleted_on_exit_without_commit(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    with store.stage([b"abc"], max_bytes=10) as staged:
        assert staged.path.parent == tmp_path
        assert staged.path.exists()

    assert _files(tmp_path) == []


def test_stage_streams_a_large_generator(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    expected = hashlib.sha256()

    def chunks() -> Iterator[bytes]:
        for i in range(320):  # 20 MiB in 64 KiB pieces
            chunk = bytes([i % 251]) * 65536
            expected.update(chunk)
            yield chunk

    with store.stage(chunks(), max_bytes=1024**3) as staged:
        assert staged.size == 320 * 65536
        assert staged.sha256 == expected.hexdigest()
        assert store.commit(staged)
    assert store.size(expected.hexdigest()) == 320 * 65536


def test_stage_refuses_past_max_bytes_and_stops_reading(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    produced = 0

    def endless() -> Iterator[bytes]:
        nonlocal produced
        while True:
            produced += 1
            yield b"x" * 1000

    with pytest.raises(InvalidBundle, match="larger than allowed") as refused:
        store.stage(endless(), max_bytes=10_000)

    assert refused.value.details == {"max_bytes": 10_000}
    assert produced == 11
    assert _files(tmp_path) == []


def test_stage_reads_binary_files_in_chunks_not_lines(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    data = b"no newline " * 200_000
    with store.stage(io.BytesIO(data), max_bytes=len(data)) as staged:
        assert staged.sha256 == hashlib.sha256(data).hexdigest()


def test_open_missing_blob_is_not_found(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    with pytest.raises(NotFound):
        store.open("a" * 64)
    with pytest.raises(NotFound):
        store.size("a" * 64)
    assert store.exists("a" * 64) is False


@pytest.mark.parametrize("bad", ["", "A" * 64, "a" * 63, "../" + "a" * 61, "g" * 64])
def test_malformed_sha256_is_refused(tmp_path: Path, bad: str) -> None:
    store = LocalBlobStore(tmp_path)
    with pytest.raises(InvalidRequest):
        store.open(bad)
    with pytest.raises(InvalidRequest):
        store.delete(bad)


def test_delete_removes_only_that_blob(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    shas = []
    for data in (b"one", b"two"):
        with store.stage([data], max_bytes=10) as staged:
            store.commit(staged)
            shas.append(staged.sha256)

    assert store.delete(shas[0]) is True
    assert store.delete(shas[0]) is False
    assert list(store.iter_shas()) == [shas[1]]


def test_commit_twice_is_an_error(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    with store.stage([b"x"], max_bytes=10) as staged:
        store.commit(staged)
        with pytest.raises(ValueError):
            store.commit(staged)


def test_iter_shas_ignores_staging_and_foreign_files(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    (tmp_path / "ab").mkdir()
    (tmp_path / "ab" / "notes.txt").write_text("x")
    (tmp_path / ("cd" + "0" * 62)).write_text("x")
    with store.stage([b"pending"], max_bytes=10):
        assert list(store.iter_shas()) == []


def test_remove_stale_staging_spares_recent_uploads(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    old = tmp_path / ".stage-crashed.tmp"
    old.write_bytes(b"half an upload")
    os.utime(old, (0, 0))

    with store.stage([b"in progress"], max_bytes=100) as staged:
        assert store.remove_stale_staging() == 1
        assert staged.path.exists()
    assert not old.exists()


def test_a_store_opened_with_a_relative_root_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tarmac demo` opens its data dir by a relative path; staging must still match."""
    monkeypatch.chdir(tmp_path)
    store = LocalBlobStore(Path("relative") / "blobs")
    with store.stage([b"some bytes"], max_bytes=1024) as staged:
        assert store.commit(staged) is True
    assert store.exists(staged.sha256)
