"""Building a bundle from held files: checked trees, links, and nothing wrong going live."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tarmac.agent.client import BundleDigestMismatch
from tarmac.agent.delta import LocalFile, assemble
from tarmac.bundles.limits import BundleLimits
from tarmac.bundles.tree import BundleTree
from tarmac.errors import InvalidBundle

LIMITS = BundleLimits()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file(path: str, data: bytes, *, executable: bool = False) -> dict[str, Any]:
    return {"path": path, "type": "file", "size": len(data), "sha256": sha(data),
            "executable": executable}  # fmt: skip


class Server:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.by_digest = {sha(d): d for d in files.values()}
        self.asked: list[str] = []

    def tree(self, sha256: str) -> None:
        return None

    def files(
        self, sha256: str, wanted: list[tuple[str, int]]
    ) -> Iterator[tuple[str, Iterator[bytes]]]:
        for digest, _size in wanted:
            self.asked.append(digest)
            yield digest, iter([self.by_digest[digest]])


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"path": "../x", "type": "dir"}, "'..'"),
        ({"path": "/etc", "type": "dir"}, "absolute"),
        ({"path": "a/b.py", "type": "file", "size": 1, "sha256": "0" * 64}, "parent"),
        ({"path": "l", "type": "symlink", "target": "../../etc/passwd"}, "outside"),
        ({"path": "x", "type": "fifo"}, "unknown type"),
    ],
)
def test_a_tree_from_the_network_is_checked_like_an_upload(
    entry: dict[str, Any], problem: str
) -> None:
    with pytest.raises(InvalidBundle, match=problem):
        BundleTree.from_json({"entries": [entry]}, limits=LIMITS)


def test_held_files_are_linked_and_only_the_others_fetched(tmp_path: Path) -> None:
    held = tmp_path / "held"
    held.mkdir()
    (held / "same.py").write_bytes(b"same\n")
    (held / "same.py").chmod(0o444)
    tree = BundleTree.from_json(
        {"entries": [{"path": "d", "type": "dir"}, file("d/same.py", b"same\n"),
                     file("d/new.py", b"new\n"), file("d/tool", b"same\n", executable=True),
                     {"path": "d/link", "type": "symlink", "target": "new.py"}]},
        limits=LIMITS,
    )  # fmt: skip
    server = Server({"new": b"new\n"})
    out = tmp_path / "out"
    out.mkdir()
    local = {sha(b"same\n"): LocalFile(str(held / "same.py"), executable=False)}
    stats = assemble(out, sha256="b" * 64, tree=tree, local=local, source=server)
    assert server.asked == [sha(b"new\n")]
    assert (stats.fetched, stats.linked, stats.fetched_bytes) == (1, 2, 4)
    assert os.stat(out / "d" / "same.py").st_ino == os.stat(held / "same.py").st_ino
    # Same bytes but executable: a copy, since a link would share the other's mode.
    assert os.stat(out / "d" / "tool").st_ino != os.stat(held / "same.py").st_ino
    assert os.access(out / "d" / "tool", os.X_OK)
    assert (out / "d" / "link").read_bytes() == b"new\n"


def test_a_held_file_that_changed_on_disk_is_caught(tmp_path: Path) -> None:
    (tmp_path / "held.py").write_bytes(b"tampered\n")
    tree = BundleTree.from_json({"entries": [file("a.py", b"good\n")]}, limits=LIMITS)
    out = tmp_path / "out"
    out.mkdir()
    local = {sha(b"good\n"): LocalFile(str(tmp_path / "held.py"), executable=False)}
    with pytest.raises(BundleDigestMismatch):
        assemble(out, sha256="b" * 64, tree=tree, local=local, source=Server({}))


def test_a_fetched_file_with_the_wrong_bytes_is_refused(tmp_path: Path) -> None:
    tree = BundleTree.from_json({"entries": [file("a.py", b"good\n")]}, limits=LIMITS)
    server = Server({})
    server.by_digest[sha(b"good\n")] = b"evil\n"
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(BundleDigestMismatch):
        assemble(out, sha256="b" * 64, tree=tree, local={}, source=server)
