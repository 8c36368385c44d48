"""Parsed manifests and file diffs, remembered by the bundles' content digests.

A bundle is named by the sha256 of its bytes and its manifest is derived from those
bytes, so a manifest (and the diff between two of them) never changes for a given pair of
digests: caching them can never serve a stale answer. The caches are bounded (least
recently used first out) so a long-running server's memory stays flat however many
bundles it has seen, and safe to use from the server's worker threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from tarmac.bundles.manifest import BundleManifest, ManifestDiff, diff_manifests

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MANIFESTS_KEPT = 64
"""Parsed manifests kept; a 50,000-file manifest is about 15 MB of Python objects."""
DIFFS_KEPT = 256


class LruCache(Generic[K, V]):
    """A bounded mapping that forgets the least recently used entry first."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        """The value kept for ``key`` (now the most recently used), or None."""
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` for ``key``, forgetting the least recently used beyond capacity."""
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_manifests: LruCache[str, BundleManifest] = LruCache(MANIFESTS_KEPT)
_diffs: LruCache[tuple[str, str], ManifestDiff] = LruCache(DIFFS_KEPT)


def cached_manifest(
    sha256: str, load: Callable[[], BundleManifest | None]
) -> BundleManifest | None:
    """Bundle ``sha256``'s manifest; ``load()`` runs only on a miss (None is not kept)."""
    manifest = _manifests.get(sha256)
    if manifest is None:
        manifest = load()
        if manifest is not None:
            _manifests.put(sha256, manifest)
    return manifest


def cached_diff(old: BundleManifest | None, new: BundleManifest | None) -> ManifestDiff:
    """``diff_manifests(old, new)``, remembered when both sides are named by a digest."""
    old_name, new_name = _name(old), _name(new)
    if old_name is None or new_name is None:  # a manifest not named by a digest: no caching
        return diff_manifests(old, new)
    found = _diffs.get((old_name, new_name))
    if found is None:
        found = diff_manifests(old, new)
        _diffs.put((old_name, new_name), found)
    return found


def _name(manifest: BundleManifest | None) -> str | None:
    # "" stands for no bundle at all, which is a fine key too: it has no files.
    return "" if manifest is None else manifest.sha256


def clear_caches() -> None:
    """Forget everything (tests that rewrite a manifest row behind the server's back)."""
    _manifests.clear()
    _diffs.clear()
