"""The manifest and diff caches: bounded, and never mixing up two bundles."""

from __future__ import annotations

import pytest

from tarmac.bundles import manifest_cache
from tarmac.bundles.manifest import BundleManifest, ManifestEntry
from tarmac.bundles.manifest_cache import LruCache, cached_diff, cached_manifest

SHA_A = "a" * 64
SHA_B = "b" * 64


@pytest.fixture(autouse=True)
def fresh_caches() -> None:
    manifest_cache.clear_caches()


def manifest(sha: str | None, **files: str) -> BundleManifest:
    entries = tuple(ManifestEntry(path=p, size=1, sha256=d * 64) for p, d in files.items())
    return BundleManifest(entries=entries, sha256=sha)


def test_lru_forgets_the_least_recently_used_first() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("one", 1)
    cache.put("two", 2)
    assert cache.get("one") == 1  # "two" is now the least recently used
    cache.put("three", 3)
    assert (cache.get("one"), cache.get("two"), cache.get("three")) == (1, None, 3)
    assert len(cache) == 2


def test_a_manifest_is_loaded_once_per_digest() -> None:
    loads: list[str] = []

    def load() -> BundleManifest:
        loads.append(SHA_A)
        return manifest(SHA_A, x="1")

    first = cached_manifest(SHA_A, load)
    again = cached_manifest(SHA_A, load)
    assert first is again and loads == [SHA_A]


def test_a_missing_manifest_is_not_remembered() -> None:
    assert cached_manifest(SHA_A, lambda: None) is None
    assert cached_manifest(SHA_A, lambda: manifest(SHA_A, x="1")) == manifest(None, x="1")


def test_diffs_are_keyed_by_both_digests_in_order() -> None:
    old, new = manifest(SHA_A, x="1", y="1"), manifest(SHA_B, y="2", z="1")
    forward = cached_diff(old, new)
    backward = cached_diff(new, old)
    assert (forward.added, forward.removed, forward.changed) == (("z",), ("x",), ("y",))
    assert (backward.added, backward.removed, backward.changed) == (("x",), ("z",), ("y",))
    assert cached_diff(old, new) is forward
    assert cached_diff(None, new).added == ("y", "z")


def test_manifests_without_a_digest_are_diffed_every_time() -> None:
    old, new = manifest(None, x="1"), manifest(None, x="2")
    assert cached_diff(old, new).changed == ("x",)
    assert cached_diff(old, manifest(None, x="1")).is_empty
