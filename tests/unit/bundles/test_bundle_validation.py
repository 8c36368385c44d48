"""inspect_bundle: what a valid bundle lists, and the corpus of bundles it must refuse."""

from __future__ import annotations

import gzip
import hashlib
import io
import random
import tarfile
from pathlib import Path

import pytest

from tarmac.bundles.blob_store import LocalBlobStore
from tarmac.bundles.limits import BundleLimits
from tarmac.bundles.manifest import ManifestEntry
from tarmac.bundles.members import normalise_name
from tarmac.bundles.scan import scan_bundle
from tarmac.bundles.validation import inspect_bundle
from tarmac.errors import InvalidBundle

from .archives import (
    directory,
    hardlink,
    regular,
    sample_bundle,
    special,
    symlink,
    tar_bytes,
    tar_gz,
)

LIMITS = BundleLimits()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "bundle.tar.gz"
    path.write_bytes(data)
    return path


def test_valid_bundle_lists_files_links_and_hard_links(tmp_path: Path) -> None:
    manifest = inspect_bundle(_write(tmp_path, sample_bundle()), limits=LIMITS)

    assert manifest.by_path() == {
        "common/util.py": ManifestEntry("common/util.py", 6, _sha(b"X = 1\n")),
        "dags/common": ManifestEntry("dags/common", 0, _sha(b"../common")),
        "dags/etl.py": ManifestEntry("dags/etl.py", 6, _sha(b"# etl\n")),
        "dags/etl_copy.py": ManifestEntry("dags/etl_copy.py", 6, _sha(b"# etl\n")),
        "dags/run.sh": ManifestEntry("dags/run.sh", 10, _sha(b"#!/bin/sh\n")),
    }
    assert [e.path for e in manifest.entries] == sorted(manifest.by_path())


def test_empty_tar_gz_is_an_empty_bundle(tmp_path: Path) -> None:
    assert inspect_bundle(_write(tmp_path, tar_gz()), limits=LIMITS).entries == ()


def test_dot_slash_names_from_tar_c_are_accepted(tmp_path: Path) -> None:
    data = tar_gz(directory("./"), directory("./dags"), regular("./dags/a.py", b"a"))

    assert [e.path for e in inspect_bundle(_write(tmp_path, data), limits=LIMITS).entries] == [
        "dags/a.py"
    ]


def test_non_ascii_utf8_names_are_accepted(tmp_path: Path) -> None:
    data = tar_gz(regular("dägs/café.py", b"x"))

    assert inspect_bundle(_write(tmp_path, data), limits=LIMITS).entries[0].path == "dägs/café.py"


def test_gnu_and_ustar_formats_are_accepted(tmp_path: Path) -> None:
    for tar_format in (tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT):
        data = tar_gz(regular("a.py", b"a"), symlink("b.py", "a.py"), tar_format=tar_format)
        assert len(inspect_bundle(_write(tmp_path, data), limits=LIMITS).entries) == 2


def _truncated() -> bytes:
    data = tar_gz(regular("a.py", random.Random(0).randbytes(100_000)))
    return data[: len(data) // 2]


def _tar_cut_short() -> bytes:
    # Valid gzip around a tar that stops after a member, without its end-of-archive blocks.
    raw = tar_bytes(regular("a.py", b"a" * 600), regular("b.py", b"b" * 600))
    return gzip.compress(raw[: 512 + 1024])


def _garbage_after_end() -> bytes:
    return gzip.compress(tar_bytes(regular("a.py", b"a")) + b"\x01" * 512)


def _huge_pax_header() -> bytes:
    return gzip.compress(tar_bytes(regular("d/" + "x" * (2 * 1024 * 1024), b"a")))


def _negative_size() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("shrink.py")
        info.size = -(10**9)  # GNU base-256 can say this; it must not lower the total
        tar.addfile(info)
    return gzip.compress(buffer.getvalue())


# (archive bytes, limits, member named in the refusal or None when there is none)
CORPUS: dict[str, tuple[bytes, BundleLimits, str | None]] = {
    "dotdot": (tar_gz(regular("../x")), LIMITS, "../x"),
    "dotdot-inside": (tar_gz(regular("a/../../x")), LIMITS, "a/../../x"),
    "dotdot-harmless-still-refused": (tar_gz(regular("a/../b")), LIMITS, "a/../b"),
    "absolute": (tar_gz(regular("/etc/x")), LIMITS, "/etc/x"),
    "empty-name": (tar_gz(regular("")), LIMITS, ""),
    "backslash": (tar_gz(regular("a\\..\\x")), LIMITS, "a\\..\\x"),
    "symlink-absolute": (tar_gz(symlink("l", "/etc/passwd")), LIMITS, "l"),
    "symlink-relative-escape": (tar_gz(symlink("a/l", "../../etc")), LIMITS, "a/l"),
    "symlink-to-parent-of-root": (tar_gz(symlink("l", "..")), LIMITS, "l"),
    "symlink-dotdot-after-name": (
        tar_gz(directory("d"), symlink("d/up", ".."), symlink("d/out", "up/..")),
        LIMITS,
        "d/out",
    ),
    "symlink-empty-target": (tar_gz(symlink("l", "")), LIMITS, "l"),
    "write-through-symlink": (
        tar_gz(directory("sub"), symlink("l", "sub"), regular("l/x.py")),
        LIMITS,
        "l/x.py",
    ),
    "hardlink-outside": (tar_gz(hardlink("h", "../etc/passwd")), LIMITS, "h"),
    "hardlink-absolute": (tar_gz(hardlink("h", "/etc/passwd")), LIMITS, "h"),
    "hardlink-missing": (tar_gz(regular("a.py"), hardlink("h", "b.py")), LIMITS, "h"),
    "hardlink-later-member": (tar_gz(hardlink("h", "a.py"), regular("a.py")), LIMITS, "h"),
    "hardlink-to-directory": (tar_gz(directory("d"), hardlink("h", "d")), LIMITS, "h"),
    "hardlink-to-symlink": (
        tar_gz(regular("a"), symlink("s", "a"), hardlink("h", "s")),
        LIMITS,
        "h",
    ),
    "char-device": (tar_gz(special("tty", tarfile.CHRTYPE)), LIMITS, "tty"),
    "block-device": (tar_gz(special("sda", tarfile.BLKTYPE)), LIMITS, "sda"),
    "fifo": (tar_gz(special("pipe", tarfile.FIFOTYPE)), LIMITS, "pipe"),
    "unknown-type": (tar_gz(special("odd", b"Z")), LIMITS, "odd"),
    "file-then-dir": (tar_gz(regular("a"), directory("a")), LIMITS, "a"),
    "dir-then-file": (tar_gz(directory("a"), regular("a")), LIMITS, "a"),
    "implied-dir-then-file": (tar_gz(regular("a/b.py"), regular("a")), LIMITS, "a"),
    "file-then-child": (tar_gz(regular("a"), regular("a/b.py")), LIMITS, "a/b.py"),
    "file-twice": (tar_gz(regular("a.py", b"1"), regular("a.py", b"2")), LIMITS, "a.py"),
    "symlink-then-file": (tar_gz(symlink("a", "b"), regular("a")), LIMITS, "a"),
    "too-many-members": (
        tar_gz(*(regular(f"f{i}.py") for i in range(4))),
        BundleLimits(max_members=3),
        "f3.py",
    ),
    "too-large": (
        tar_gz(regular("a.py", b"a" * 60), regular("b.py", b"b" * 60)),
        BundleLimits(max_unpacked_bytes=100),
        "b.py",
    ),
    "negative-size": (_negative_size(), LIMITS, "shrink.py"),
    "upload-too-large": (tar_gz(regular("a.py")), BundleLimits(max_upload_bytes=10), None),
    "gzip-bomb": (tar_gz(regular("zeros", bytes(50 * 1024 * 1024))), LIMITS, "zeros"),
    "truncated": (_truncated(), LIMITS, "a.py"),
    "tar-cut-short": (_tar_cut_short(), LIMITS, None),
    "garbage-after-end": (_garbage_after_end(), LIMITS, None),
    "huge-pax-header": (_huge_pax_header(), LIMITS, None),
    "not-gzip": (b"PK\x03\x04 this is a zip, not a gzip", LIMITS, None),
    "empty-file": (b"", LIMITS, None),
    "gzip-of-non-tar": (gzip.compress(b"hello, I am not a tar archive\n" * 100), LIMITS, None),
    "invalid-utf8-gnu": (
        tar_gz(regular("caf\udce9.py"), tar_format=tarfile.GNU_FORMAT),
        LIMITS,
        "caf\\xe9.py",
    ),
    "invalid-utf8-latin1-writer": (
        tar_gz(regular("naïve.py"), tar_format=tarfile.GNU_FORMAT, encoding="latin-1"),
        LIMITS,
        "na\\xefve.py",
    ),
    "newline": (tar_gz(regular("a\nb.py")), LIMITS, "a\\x0ab.py"),
    "escape-sequence": (tar_gz(regular("\x1b[31mred.py")), LIMITS, "\\x1b[31mred.py"),
    "c1-control": (tar_gz(regular("a\x85b.py")), LIMITS, "a\\x85b.py"),
    "symlink-target-control": (tar_gz(symlink("l", "a\tb")), LIMITS, "l"),
}


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_corpus_is_refused_naming_the_member(tmp_path: Path, case: str) -> None:
    data, limits, member = CORPUS[case]

    with pytest.raises(InvalidBundle) as refused:
        inspect_bundle(_write(tmp_path, data), limits=limits)

    assert refused.value.code == "invalid_bundle"
    assert refused.value.details.get("member") == member


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_refused_upload_leaves_the_blob_store_unchanged(tmp_path: Path, case: str) -> None:
    data, limits, _member = CORPUS[case]
    store = LocalBlobStore(tmp_path / "blobs")
    chunks = (data[i : i + 4096] for i in range(0, len(data), 4096))

    with (
        pytest.raises(InvalidBundle),
        store.stage(chunks, max_bytes=limits.max_upload_bytes) as staged,
    ):
        inspect_bundle(staged.path, limits=limits)
        store.commit(staged)

    assert [p for p in (tmp_path / "blobs").rglob("*") if not p.is_dir()] == []
    assert list(store.iter_shas()) == []


class _CountingReader(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.consumed = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.consumed += len(data)
        return data


def test_gzip_bomb_is_refused_early_without_reading_it_all() -> None:
    bomb = CORPUS["gzip-bomb"][0]
    reader = _CountingReader(bomb)

    with pytest.raises(InvalidBundle, match="compression ratio"):
        scan_bundle(reader, limits=LIMITS)
    assert reader.consumed < len(bomb) // 4


def test_large_unpacked_total_is_refused_before_reading_the_member(tmp_path: Path) -> None:
    data = tar_gz(regular("small.py", b"x"), regular("big.bin", b"\x00" * 10_000))

    with pytest.raises(InvalidBundle, match="too large") as refused:
        inspect_bundle(_write(tmp_path, data), limits=BundleLimits(max_unpacked_bytes=5_000))
    assert refused.value.details["max_unpacked_bytes"] == 5_000


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("./a/./b.py", "a/b.py"), ("a//b/", "a/b"), ("./", ""), ("dags/x.py", "dags/x.py")],
)
def test_normalise_name_cleans_harmless_spellings(raw: str, expected: str) -> None:
    assert normalise_name(raw) == expected


@pytest.mark.parametrize("raw", ["a\x00b", "x/" + "n" * 256, "/".join(["abcdefgh"] * 200)])
def test_normalise_name_refuses_nul_and_overlong_names(raw: str) -> None:
    with pytest.raises(InvalidBundle):
        normalise_name(raw)
