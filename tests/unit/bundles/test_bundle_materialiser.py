"""Materialiser: verified unpacking, atomic live swaps, pruning, atomic JSON."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pytest

from tarmac.bundles.limits import BundleLimits
from tarmac.bundles.materialiser import Materialiser, write_json_atomically
from tarmac.errors import InvalidBundle

from .archives import regular, sample_bundle, symlink, tar_gz

LIMITS = BundleLimits()


def _opener(data: bytes) -> Callable[[], BinaryIO]:
    return lambda: io.BytesIO(data)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _unpack(materialiser: Materialiser, data: bytes) -> Path:
    return materialiser.ensure_unpacked(_sha(data), open_blob=_opener(data), limits=LIMITS)


def test_unpacks_files_links_and_modes(tmp_path: Path) -> None:
    data = sample_bundle()
    bundle = _unpack(Materialiser(tmp_path), data)

    assert bundle == tmp_path / _sha(data)
    assert (bundle / "dags" / "etl.py").read_bytes() == b"# etl\n"
    assert os.readlink(bundle / "dags" / "common") == "../common"
    assert (bundle / "dags" / "common" / "util.py").read_bytes() == b"X = 1\n"
    assert (bundle / "dags" / "etl_copy.py").stat().st_ino == (bundle / "dags/etl.py").stat().st_ino
    assert stat.S_IMODE((bundle / "dags" / "etl.py").stat().st_mode) == 0o444
    assert stat.S_IMODE((bundle / "dags" / "run.sh").stat().st_mode) == 0o555
    assert stat.S_IMODE((bundle / "dags").stat().st_mode) == 0o555
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o555
    assert sorted(p.name for p in tmp_path.iterdir()) == [_sha(data)]


def test_already_unpacked_bundle_is_not_read_again(tmp_path: Path) -> None:
    materialiser = Materialiser(tmp_path)
    data = sample_bundle()
    first = _unpack(materialiser, data)

    def must_not_open() -> BinaryIO:
        raise AssertionError("blob opened again")

    again = materialiser.ensure_unpacked(_sha(data), open_blob=must_not_open, limits=LIMITS)
    assert again == first


def test_sha256_mismatch_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    materialiser = Materialiser(tmp_path)
    data = sample_bundle()

    with pytest.raises(InvalidBundle, match="do not match") as refused:
        materialiser.ensure_unpacked("0" * 64, open_blob=_opener(data), limits=LIMITS)

    assert refused.value.details == {"expected": "0" * 64, "actual": _sha(data)}
    assert list(tmp_path.iterdir()) == []


def test_unsafe_bundle_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    data = tar_gz(regular("ok.py"), symlink("evil", "/etc"))

    with pytest.raises(InvalidBundle) as refused:
        _unpack(Materialiser(tmp_path), data)

    assert refused.value.details["member"] == "evil"
    assert list(tmp_path.iterdir()) == []


def test_losing_an_unpack_race_keeps_the_winner(tmp_path: Path) -> None:
    data = sample_bundle()
    winner = Materialiser(tmp_path)

    def open_after_the_other_process_finished() -> BinaryIO:
        _unpack(winner, data)
        return io.BytesIO(data)

    loser = Materialiser(tmp_path)
    path = loser.ensure_unpacked(
        _sha(data), open_blob=open_after_the_other_process_finished, limits=LIMITS
    )

    assert path == tmp_path / _sha(data)
    assert sorted(p.name for p in tmp_path.iterdir()) == [_sha(data)]


def _two_bundles(materialiser: Materialiser) -> tuple[Path, Path]:
    first = _unpack(materialiser, tar_gz(regular("a.py", b"a"), regular("b.py", b"b")))
    second = _unpack(materialiser, tar_gz(regular("c.py", b"c")))
    return first, second


def test_swap_live_creates_and_replaces_a_relative_link(tmp_path: Path) -> None:
    materialiser = Materialiser(tmp_path / "bundles")
    first, second = _two_bundles(materialiser)
    link = tmp_path / "deployments" / "release-1" / "dags"

    assert materialiser.live_target(link) is None
    materialiser.swap_live(link, first)
    assert materialiser.live_target(link) == first.name
    assert sorted(os.listdir(link)) == ["a.py", "b.py"]

    materialiser.swap_live(link, second)
    assert materialiser.live_target(link) == second.name
    assert os.listdir(link) == ["c.py"]
    assert not os.path.isabs(os.readlink(link))
    assert sorted(os.listdir(link.parent)) == ["dags"]


def test_swap_live_to_a_missing_bundle_is_refused(tmp_path: Path) -> None:
    materialiser = Materialiser(tmp_path)
    with pytest.raises(FileNotFoundError):
        materialiser.swap_live(tmp_path / "dags", tmp_path / ("0" * 64))
    assert not (tmp_path / "dags").is_symlink()


def test_readers_never_see_a_missing_or_half_tree_during_swaps(tmp_path: Path) -> None:
    materialiser = Materialiser(tmp_path / "bundles")
    first, second = _two_bundles(materialiser)
    link = tmp_path / "dags"
    materialiser.swap_live(link, first)
    seen: set[tuple[str, ...]] = set()
    errors: list[BaseException] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            try:
                seen.add(tuple(sorted(os.listdir(link))))
            except BaseException as exc:  # any error at all fails the test
                errors.append(exc)
                return

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(200):
            materialiser.swap_live(link, second if i % 2 == 0 else first)
    finally:
        done.set()
        thread.join()

    assert errors == []
    assert seen <= {("a.py", "b.py"), ("c.py",)}


def test_live_target_ignores_links_that_are_not_bundles(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "plain").mkdir()

    materialiser = Materialiser(tmp_path)
    assert materialiser.live_target(tmp_path / "link") is None
    assert materialiser.live_target(tmp_path / "plain") is None


def _aged_bundles(materialiser: Materialiser, count: int) -> list[str]:
    """Unpack ``count`` bundles, oldest first, with distinct mtimes."""
    shas = []
    now = time.time()
    for i in range(count):
        path = _unpack(materialiser, tar_gz(regular(f"dag_{i}.py", str(i).encode())))
        os.utime(path, (now - 1000 + i, now - 1000 + i))
        shas.append(path.name)
    return shas


def test_prune_keeps_the_most_recently_used(tmp_path: Path) -> None:
    materialiser = Materialiser(tmp_path)
    shas = _aged_bundles(materialiser, 5)

    removed = materialiser.prune(keep=2, protect=())

    assert sorted(removed) == sorted(shas[:3])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(shas[3:])


def test_prune_spares_protected_and_live_bundles(tmp_path: Path) -> None:
    materialiser = Materialiser(tmp_path / "bundles")
    shas = _aged_bundles(materialiser, 5)
    link = tmp_path / "dags"
    materialiser.swap_live(link, tmp_path / "bundles" / shas[1])
    os.utime(tmp_path / "bundles" / shas[1], (0, 0))  # live, yet least recently swapped

    removed = materialiser.prune(keep=1, protect={shas[0]}, live_links=[link])

    assert sorted(removed) == sorted([shas[2], shas[3]])
    left = {p.name for p in (tmp_path / "bundles").iterdir()}
    assert left == {shas[0], shas[1], shas[4]}


def test_swapping_live_marks_a_bundle_recently_used(tmp_path: Path) -> None:
    materialiser = Materialiser(tmp_path / "bundles")
    shas = _aged_bundles(materialiser, 3)

    materialiser.swap_live(tmp_path / "dags", tmp_path / "bundles" / shas[0])
    removed = materialiser.prune(keep=1, protect=())

    assert sorted(removed) == sorted(shas[1:])


def test_prune_removes_stale_unpack_leftovers_only(tmp_path: Path) -> None:
    materialiser = Materialiser(tmp_path)
    stale = tmp_path / ".tmp-stale"
    (stale / "sub").mkdir(parents=True)
    (stale / "sub" / "f.py").write_text("x")
    (stale / "sub").chmod(0o555)
    os.utime(stale, (0, 0))
    fresh = tmp_path / ".tmp-fresh"
    fresh.mkdir()

    assert materialiser.prune(keep=0, protect=()) == []
    assert not stale.exists()
    assert fresh.exists()


def test_write_json_atomically_replaces_the_file(tmp_path: Path) -> None:
    target = tmp_path / "runtime.json"
    write_json_atomically(target, {"runtime_version": "9.1.0"})
    write_json_atomically(target, {"runtime_version": "9.2.0", "airflow": "2.8.1"})

    assert json.loads(target.read_text()) == {"runtime_version": "9.2.0", "airflow": "2.8.1"}
    assert [p.name for p in tmp_path.iterdir()] == ["runtime.json"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


@pytest.mark.skipif(shutil.which("tar") is None, reason="needs the tar command")
def test_archive_made_by_the_tar_command_unpacks(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "a.py").write_text("a")
    os.link(source / "a.py", source / "sub" / "hard.py")
    (source / "sub" / "link.py").symlink_to("../a.py")
    archive = tmp_path / "dags.tar.gz"
    subprocess.run(["tar", "-C", str(source), "-czf", str(archive), "."], check=True)
    data = archive.read_bytes()

    bundle = _unpack(Materialiser(tmp_path / "bundles"), data)

    assert (bundle / "sub" / "hard.py").read_text() == "a"
    assert (bundle / "sub" / "link.py").read_text() == "a"
