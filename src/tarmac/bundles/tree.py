"""A bundle's unpacked tree as data: what lets an agent build it from files it already has.

Each entry is a directory, a regular file (size, sha256, executable bit) or a symbolic
link (its target). The server reads the tree of a bundle it keeps unpacked, taking the
file digests from the bundle's manifest; an agent checks every entry as strictly as an
upload's members before it builds anything from it (``BundleTree.from_json``).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tarmac.bundles.digests import is_sha256
from tarmac.bundles.limits import BundleLimits
from tarmac.bundles.manifest import BundleManifest
from tarmac.bundles.members import check_symlink_target, normalise_name
from tarmac.errors import InvalidBundle

DIR, FILE, SYMLINK = "dir", "file", "symlink"
_PLAIN_PATH = re.compile(
    r"[A-Za-z0-9_][A-Za-z0-9_.+=@,-]{0,254}(?:/[A-Za-z0-9_][A-Za-z0-9_.+=@,-]{0,254})*"
)
"""Paths every check would pass as they are (no '.', '..', control characters or
backslashes; names short): accepted without the character-by-character checks."""


@dataclass(frozen=True)
class TreeEntry:
    path: str
    kind: str
    size: int = 0
    sha256: str | None = None
    executable: bool = False
    target: str | None = None

    def to_json(self) -> dict[str, Any]:
        if self.kind == DIR:
            return {"path": self.path, "type": DIR}
        if self.kind == SYMLINK:
            return {"path": self.path, "type": SYMLINK, "target": self.target}
        return {
            "path": self.path,
            "type": FILE,
            "size": self.size,
            "sha256": self.sha256,
            "executable": self.executable,
        }


@dataclass(frozen=True)
class BundleTree:
    """Every entry of an unpacked bundle, parents before children."""

    entries: tuple[TreeEntry, ...]

    @property
    def files(self) -> tuple[TreeEntry, ...]:
        return tuple(e for e in self.entries if e.kind == FILE)

    def to_json(self) -> dict[str, Any]:
        return {"entries": [e.to_json() for e in self.entries]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, limits: BundleLimits) -> BundleTree:
        """Parse and check a tree from the network; ``InvalidBundle`` if anything is off."""
        raw = data.get("entries") if isinstance(data, Mapping) else None
        if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
            raise InvalidBundle("bundle tree must list its entries")
        if len(raw) > limits.max_members:
            raise InvalidBundle("bundle tree has too many entries", max=limits.max_members)
        entries = tuple(_entry_from_json(item) for item in raw)
        _check_shape(entries)
        if sum(e.size for e in entries) > limits.max_unpacked_bytes:
            raise InvalidBundle("bundle tree is larger than allowed")
        return cls(entries=entries)


def read_tree(root: Path, manifest: BundleManifest) -> BundleTree:
    """The tree of the bundle unpacked at ``root``; file digests come from its manifest."""
    digests = {entry.path: entry for entry in manifest.entries}
    entries: list[TreeEntry] = []
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        relative = os.path.relpath(directory, root)
        base = "" if relative == "." else relative + "/"
        for name in sorted(dirs + files):
            path = base + name
            info = os.lstat(os.path.join(directory, name))
            if stat.S_ISLNK(info.st_mode):
                target = os.readlink(os.path.join(directory, name))
                entries.append(TreeEntry(path=path, kind=SYMLINK, target=target))
                if name in dirs:
                    dirs.remove(name)  # os.walk does not follow it anyway; keep it a link
            elif stat.S_ISDIR(info.st_mode):
                entries.append(TreeEntry(path=path, kind=DIR))
            else:
                known = digests.get(path)
                if known is None:
                    raise InvalidBundle(
                        "unpacked bundle holds a file its manifest lacks", member=path
                    )
                entries.append(
                    TreeEntry(
                        path=path,
                        kind=FILE,
                        size=known.size,
                        sha256=known.sha256,
                        executable=bool(info.st_mode & stat.S_IXUSR),
                    )
                )
    return BundleTree(entries=tuple(entries))


def _entry_from_json(item: Any) -> TreeEntry:
    if not isinstance(item, Mapping):
        raise InvalidBundle("bundle tree entry must be an object")
    raw_path = item.get("path")
    if not isinstance(raw_path, str):
        raise InvalidBundle("bundle tree entry has no path")
    plain = _PLAIN_PATH.fullmatch(raw_path) is not None and len(raw_path) < 1024
    path = raw_path if plain else normalise_name(raw_path)
    if not path or path != raw_path:
        raise InvalidBundle("bundle tree entry has an unclean path", member=raw_path)
    kind = item.get("type")
    if kind == DIR:
        return TreeEntry(path=path, kind=DIR)
    if kind == SYMLINK:
        target = item.get("target")
        if not isinstance(target, str):
            raise InvalidBundle("bundle tree symlink has no target", member=path)
        check_symlink_target(path, target)
        return TreeEntry(path=path, kind=SYMLINK, target=target)
    if kind == FILE:
        size, sha256, executable = item.get("size"), item.get("sha256"), item.get("executable")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidBundle("bundle tree file has an invalid size", member=path)
        if not isinstance(sha256, str) or not is_sha256(sha256):
            raise InvalidBundle("bundle tree file has an invalid sha256", member=path)
        return TreeEntry(
            path=path, kind=FILE, size=size, sha256=sha256, executable=executable is True
        )
    raise InvalidBundle("bundle tree entry has an unknown type", member=path)


def _check_shape(entries: Sequence[TreeEntry]) -> None:
    """Each path once; every parent an earlier directory entry (never a file or a link)."""
    kinds: dict[str, str] = {}
    for entry in entries:
        if entry.path in kinds:
            raise InvalidBundle("bundle tree lists a path twice", member=entry.path)
        parent = entry.path.rpartition("/")[0]
        if parent and kinds.get(parent) != DIR:
            raise InvalidBundle("bundle tree entry's parent is not a directory", member=entry.path)
        kinds[entry.path] = entry.kind
