"""File-system steps that survive a crash: fsync, atomic replace, removal of read-only trees."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries (creations, renames, deletions) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def flush_tree(root: Path) -> None:
    """Make every file and directory below ``root`` durable, before ``root`` is renamed.

    On Linux this is one ``syncfs(2)`` on ``root``'s file system: the kernel writes all
    its dirty data and metadata back in one batch (one journal commit on ext4 or XFS)
    rather than one ``fsync`` per file, each waiting for its own commit. ``syncfs`` returns
    only once everything written before the call is on stable storage, which is exactly
    what an ``fsync`` of every file and directory gives, so the crash guarantee is the
    same: a tree is renamed into place only after it is complete on disk. The cost is
    that it also flushes unrelated dirty data on that file system. Elsewhere (no syncfs;
    macOS's ``sync`` may return before the data is written) every file and directory is
    fsynced one by one, deepest first.
    """
    if _syncfs is not None:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if _syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    for directory, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        fsync_dir(Path(directory))


def _load_syncfs() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        syncfs = libc.syncfs
    except (OSError, AttributeError):
        return None
    syncfs.argtypes = [ctypes.c_int]
    syncfs.restype = ctypes.c_int
    return syncfs


_syncfs = _load_syncfs()


def write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON to ``path`` so readers see the old or the new file, never half."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, sort_keys=True)
            out.write("\n")
            out.flush()
            # mkstemp creates 0600; the spec is read by Airflow components, maybe as another user.
            os.fchmod(out.fileno(), 0o644)
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def remove_tree(path: Path) -> None:
    """Delete a directory tree, including one whose directories were made read-only."""
    if not path.exists() and not path.is_symlink():
        return
    if path.is_symlink() or not path.is_dir():
        path.unlink()
        return
    # Entries of a read-only directory cannot be unlinked: open every directory up first.
    for root, dirs, _files in os.walk(path):
        for name in dirs:
            child = Path(root, name)
            if not child.is_symlink():
                child.chmod(stat.S_IRWXU)
    path.chmod(stat.S_IRWXU)
    shutil.rmtree(path)
