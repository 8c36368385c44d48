"""File-system steps that survive a crash: fsync, atomic replace, removal of read-only trees."""

from __future__ import annotations

import json
import os
import shutil
import stat
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
