"""BundleManifest and diff_manifests."""

from __future__ import annotations

import pytest

from tarmac.bundles.manifest import BundleManifest, ManifestDiff, ManifestEntry, diff_manifests
from tarmac.errors import InvalidBundle

A, B, C = "a" * 64, "b" * 64, "c" * 64


def _manifest(*entries: tuple[str, int, str]) -> BundleManifest:
    return BundleManifest(entries=tuple(ManifestEntry(*entry) for entry in entries))


def test_entries_are_sorted_by_path_and_summed() -> None:
    manifest = _manifest(("z.py", 3, A), ("a/b.py", 4, B))

    assert [e.path for e in manifest.entries] == ["a/b.py", "z.py"]
    assert manifest.total_size == 7
    assert manifest == _manifest(("a/b.py", 4, B), ("z.py", 3, A))


def test_json_round_trip() -> None:
    manifest = _manifest(("dags/etl.py", 10, A), ("dags/link", 0, B))

    data = manifest.to_json()

    assert data == [
        {"path": "dags/etl.py", "size": 10, "sha256": A},
        {"path": "dags/link", "size": 0, "sha256": B},
    ]
    assert BundleManifest.from_json(data) == manifest


@pytest.mark.parametrize(
    "data",
    [
        "not a list",
        [{"path": "a", "size": -1, "sha256": A}],
        [{"path": "a", "size": True, "sha256": A}],
        [{"path": "a", "size": 1, "sha256": "nope"}],
        [{"size": 1, "sha256": A}],
        ["entry"],
        [{"path": "a", "size": 1, "sha256": A}, {"path": "a", "size": 2, "sha256": B}],
    ],
)
def test_from_json_refuses_malformed_data(data: object) -> None:
    with pytest.raises(InvalidBundle):
        BundleManifest.from_json(data)  # type: ignore[arg-type]


def test_diff_lists_added_removed_and_changed() -> None:
    old = _manifest(("keep.py", 1, A), ("edit.py", 1, A), ("gone.py", 1, A), ("mode.py", 1, A))
    new = _manifest(("keep.py", 1, A), ("edit.py", 1, B), ("new.py", 1, C), ("mode.py", 2, A))

    assert diff_manifests(old, new) == ManifestDiff(
        added=("new.py",), removed=("gone.py",), changed=("edit.py", "mode.py")
    )


def test_diff_against_no_bundle() -> None:
    bundle = _manifest(("b.py", 1, A), ("a.py", 1, B))

    assert diff_manifests(None, bundle) == ManifestDiff(("a.py", "b.py"), (), ())
    assert diff_manifests(bundle, None) == ManifestDiff((), ("a.py", "b.py"), ())
    assert diff_manifests(None, None).is_empty
    assert diff_manifests(bundle, bundle).is_empty


def test_agents_read_the_servers_bundle_limit_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from tarmac.bundles.limits import BundleLimits

    monkeypatch.setenv("TARMAC_MAX_BUNDLE_MEMBERS", "250000")
    monkeypatch.setenv("TARMAC_MAX_BUNDLE_UNPACKED_BYTES", str(8 * 1024**3))
    limits = BundleLimits.from_environment()
    assert limits.max_members == 250_000
    assert limits.max_unpacked_bytes == 8 * 1024**3
    assert limits.max_compression_ratio == BundleLimits().max_compression_ratio
