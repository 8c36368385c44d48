"""flush_tree: one syncfs on Linux, an fsync per file and directory elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tarmac.bundles import durable


def make_tree(root: Path) -> None:
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "f.py").write_text("x = 1\n")
    (root / "top.py").write_text("y = 2\n")
    os.symlink("top.py", root / "link.py")


def test_flush_tree_uses_one_syncfs_when_the_platform_has_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tree(tmp_path)
    calls: list[int] = []
    fsyncs: list[int] = []
    monkeypatch.setattr(durable, "_syncfs", lambda fd: calls.append(fd) or 0)
    monkeypatch.setattr(os, "fsync", lambda fd: fsyncs.append(fd))
    durable.flush_tree(tmp_path)
    assert len(calls) == 1 and fsyncs == []


def test_flush_tree_falls_back_to_an_fsync_per_file_and_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tree(tmp_path)
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(durable, "_syncfs", None)
    monkeypatch.setattr(os, "fsync", fsync)
    durable.flush_tree(tmp_path)
    expected = {"a/b/f.py", "top.py", "a/b", "a", "."}
    assert {os.path.relpath(p, tmp_path) for p in synced} == expected  # not the symlink


@pytest.mark.skipif(durable._syncfs is None, reason="no syncfs(2) on this platform")
def test_the_real_syncfs_succeeds(tmp_path: Path) -> None:
    make_tree(tmp_path)
    durable.flush_tree(tmp_path)
    assert (tmp_path / "a" / "b" / "f.py").read_text() == "x = 1\n"
