"""One directory per Airflow bundle version, sharing file contents with the unpacked bundle.

Airflow keeps a version's files at ``versions/<version>`` for as long as runs use it and
removes stale ones itself (``shutil.rmtree``). tarmac's unpacked bundles are read-only and
pruned by tarmac, so each version gets its own writable tree of hard links instead: no
file is copied, and the version stays readable whatever tarmac prunes later.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from tarmac.bundles.durable import fsync_dir, remove_tree


def ensure_version_dir(*, source: Path, target: Path) -> Path:
    """``target`` as a hard-linked copy of the tree ``source`` (made once, atomically)."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{target.name}-{secrets.token_hex(4)}"
    try:
        _link_tree(source, tmp)
        try:
            tmp.rename(target)
        except OSError:
            # Another process made the same version first; its copy is as good.
            if not target.is_dir():
                raise
            remove_tree(tmp)
    except BaseException:
        remove_tree(tmp)
        raise
    fsync_dir(target.parent)
    return target


def _link_tree(source: Path, destination: Path) -> None:
    destination.mkdir()
    for root, dirs, files in os.walk(source):
        here = destination / Path(root).relative_to(source)
        for name in dirs:
            origin = Path(root, name)
            if origin.is_symlink():
                os.symlink(os.readlink(origin), here / name)
            else:
                (here / name).mkdir()
        for name in files:
            origin = Path(root, name)
            if origin.is_symlink():
                os.symlink(os.readlink(origin), here / name)
                continue
            try:
                os.link(origin, here / name)
            except OSError:  # another file system, or hard links refused: copy instead
                shutil.copy2(origin, here / name)
