"""After a switch exactly the files whose content changed get a new mtime (Airflow re-parses)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from tarmac.agent.cache import BundleCache
from tarmac.agent.client import LiveDags
from tarmac.agent.delta import record_tree
from tarmac.agent.folder import LiveFolder
from tarmac.agent.freshness import FileDigests
from tests.support.bundles import make_bundle

OLD = 1_000_000.0
V1 = make_bundle({"etl.py": "# v1\n", "common/helpers.py": "x = 1\n", "same.py": "# same\n"})
V2 = make_bundle(
    {"etl.py": "# v2\n", "common/helpers.py": "x = 1\n", "same.py": "# same\n", "new.py": "# new\n"}
)
BY_SHA = {hashlib.sha256(b).hexdigest(): b for b in (V1, V2)}


def _live(bundle: bytes, deploy_id: str) -> LiveDags:
    return LiveDags(deploy_id, hashlib.sha256(bundle).hexdigest(), True, etag=f'"{deploy_id}"')


def _age_every_file(root: Path) -> None:
    """As if every bundle had been unpacked long ago (and parsed since)."""
    for folder, _dirs, files in os.walk(root):
        for name in files:
            os.utime(Path(folder, name), (OLD, OLD), follow_symlinks=False)


def _mtimes(link: Path) -> dict[str, float]:
    return {
        str(p.relative_to(link)): p.stat().st_mtime for p in sorted(link.rglob("*")) if p.is_file()
    }


def test_a_rollback_to_an_old_unpacked_bundle_touches_only_what_changed(tmp_path: Path) -> None:
    cache = BundleCache(
        root=tmp_path / "cache", fetch=lambda sha, path: path.write_bytes(BY_SHA[sha])
    )
    folder = LiveFolder(link=tmp_path / "dags", cache=cache, keep=5)
    folder.switch_to(_live(V1, "d1"))
    folder.switch_to(_live(V2, "d2"))
    _age_every_file(tmp_path / "cache" / "bundles")
    before = time.time()

    folder.switch_to(_live(V1, "d3"))  # back to the bundle unpacked first

    mtimes = _mtimes(tmp_path / "dags")
    assert mtimes["etl.py"] >= before - 1
    assert mtimes["same.py"] == OLD
    assert mtimes["common/helpers.py"] == OLD


def test_a_new_file_and_a_changed_file_are_touched_on_a_deploy(tmp_path: Path) -> None:
    cache = BundleCache(
        root=tmp_path / "cache", fetch=lambda sha, path: path.write_bytes(BY_SHA[sha])
    )
    folder = LiveFolder(link=tmp_path / "dags", cache=cache, keep=5)
    folder.switch_to(_live(V1, "d1"))
    cache.ensure(hashlib.sha256(V2).hexdigest())  # unpacked ahead, long ago
    _age_every_file(tmp_path / "cache" / "bundles")

    folder.switch_to(_live(V2, "d2"))

    mtimes = _mtimes(tmp_path / "dags")
    assert {path for path, mtime in mtimes.items() if mtime != OLD} == {"etl.py", "new.py"}


def test_changed_files_are_touched_again_after_a_parse_in_flight_could_end(
    tmp_path: Path,
) -> None:
    from tarmac.agent.freshness import touch_again_later
    from tests.e2e.agent.agent_process import wait_until

    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "etl.py").write_text("# v1\n")
    (folder / "same.py").write_text("# same\n")
    link = tmp_path / "dags"
    link.symlink_to(folder)
    for name in ("etl.py", "same.py"):
        os.utime(folder / name, (OLD, OLD))

    touch_again_later(link=link, folder=folder, paths=["etl.py"], delays=(0.01,))

    assert wait_until(lambda: (folder / "etl.py").stat().st_mtime != OLD, timeout=10)
    assert (folder / "same.py").stat().st_mtime == OLD


def test_a_bundle_with_a_recorded_tree_is_not_read_again_for_its_digests(tmp_path: Path) -> None:
    """The server's tree (recorded when the agent built the bundle) names every file's
    digest; hashing the files again after the swap only delayed the next switch."""
    sha = "b" * 64
    bundle = tmp_path / "bundles" / sha
    (bundle / "dags").mkdir(parents=True)
    (bundle / "dags" / "etl.py").write_text("# v1\n")
    recorded = "c" * 64  # not the file's real digest: proves the tree was read, not the file
    tree = {
        "entries": [
            {"path": "dags", "type": "dir"},
            {"path": "dags/etl.py", "type": "file", "sha256": recorded, "size": 5},
        ]
    }
    record_tree(tmp_path / "trees", sha, tree)
    digests = FileDigests(tmp_path / "digests", trees=tmp_path / "trees")
    assert digests.of(bundle) == {"dags/etl.py": recorded}
    # Without a recorded tree the files are hashed, as before.
    plain = FileDigests(tmp_path / "other-digests")
    real = hashlib.sha256(b"# v1\n").hexdigest()
    assert plain.of(bundle) == {"dags/etl.py": real}
