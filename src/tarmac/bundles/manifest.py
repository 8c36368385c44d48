"""The list of files a bundle holds, and the difference between two bundles.

A manifest has one entry per regular file and per symbolic link; directories are
implied by the paths. A symlink is recorded with ``size`` 0 and the sha256 of its
target string (UTF-8), so changing where a link points shows up as a change. No
regular file can look like a link: a link target is never empty, so a size-0 entry
with a digest other than that of ``b""`` is always a link. A hard link is recorded
like the regular file it shares its content with.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tarmac.bundles.digests import is_sha256
from tarmac.errors import InvalidBundle


@dataclass(frozen=True)
class ManifestEntry:
    """One file of a bundle: its path inside the bundle, size in bytes and sha256."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class BundleManifest:
    """Every file of a bundle, sorted by path (sorted on construction).

    ``sha256`` names the bundle the manifest was read from, when known: it lets the file
    diff between two bundles be remembered (``manifest_cache``). It takes no part in
    equality, which is about the files.
    """

    entries: tuple[ManifestEntry, ...]
    sha256: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.entries, key=lambda entry: entry.path))
        for before, after in itertools.pairwise(ordered):
            if before.path == after.path:
                raise InvalidBundle("manifest lists a path twice", member=after.path)
        # Frozen dataclass: sorting here keeps equal bundles equal whatever the input order.
        object.__setattr__(self, "entries", ordered)

    @property
    def total_size(self) -> int:
        """Sum of the sizes of all entries, in bytes."""
        return sum(entry.size for entry in self.entries)

    def by_path(self) -> dict[str, ManifestEntry]:
        """The entries keyed by their path."""
        return {entry.path: entry for entry in self.entries}

    def to_json(self) -> list[dict[str, Any]]:
        """JSON-ready form: ``[{"path", "size", "sha256"}, ...]`` sorted by path."""
        return [{"path": e.path, "size": e.size, "sha256": e.sha256} for e in self.entries]

    @classmethod
    def from_json(
        cls, data: Sequence[Mapping[str, Any]], *, sha256: str | None = None
    ) -> BundleManifest:
        """Parse the form written by :meth:`to_json`, refusing anything malformed."""
        if not isinstance(data, Sequence) or isinstance(data, str | bytes):
            raise InvalidBundle("manifest must be a list of entries")
        return cls(entries=tuple(_entry_from_json(item) for item in data), sha256=sha256)


def _entry_from_json(item: Mapping[str, Any]) -> ManifestEntry:
    if not isinstance(item, Mapping):
        raise InvalidBundle("manifest entry must be an object")
    path, size, sha256 = item.get("path"), item.get("size"), item.get("sha256")
    if not isinstance(path, str) or not path:
        raise InvalidBundle("manifest entry has no path")
    # bool is an int subclass; a size of True is malformed, not 1.
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidBundle("manifest entry has an invalid size", member=path)
    if not isinstance(sha256, str) or not is_sha256(sha256):
        raise InvalidBundle("manifest entry has an invalid sha256", member=path)
    return ManifestEntry(path=path, size=size, sha256=sha256)


@dataclass(frozen=True)
class ManifestDiff:
    """Paths added, removed and changed going from one bundle to another, each sorted."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]

    @property
    def is_empty(self) -> bool:
        """Whether the two bundles hold the same files."""
        return not (self.added or self.removed or self.changed)


def diff_manifests(old: BundleManifest | None, new: BundleManifest | None) -> ManifestDiff:
    """Compare two bundles; ``None`` stands for no bundle at all (no files)."""
    old_entries = old.by_path() if old is not None else {}
    new_entries = new.by_path() if new is not None else {}
    return ManifestDiff(
        added=tuple(sorted(new_entries.keys() - old_entries.keys())),
        removed=tuple(sorted(old_entries.keys() - new_entries.keys())),
        changed=tuple(
            sorted(
                path
                for path in old_entries.keys() & new_entries.keys()
                if old_entries[path] != new_entries[path]
            )
        ),
    )
