"""LiveFolder and BundleCache: switches, cached switches without download, pruning, refusals."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tarmac.agent.cache import BundleCache
from tarmac.agent.client import LiveDags
from tarmac.agent.folder import LiveFolder, NotASymlink
from tarmac.errors import InvalidBundle
from tests.support.bundles import make_bundle

BUNDLES = [make_bundle({"dag.py": f"# version {n}\n", f"only_{n}.py": ""}) for n in range(4)]
SHAS = [hashlib.sha256(b).hexdigest() for b in BUNDLES]
BY_SHA = dict(zip(SHAS, BUNDLES, strict=True))


class Server:
    """Serves bundle bytes by sha256 and counts downloads."""

    def __init__(self) -> None:
        self.downloads: list[str] = []
        self.corrupt = False

    def fetch(self, sha256: str, path: Path) -> None:
        self.downloads.append(sha256)
        path.write_bytes(b"garbage" if self.corrupt else BY_SHA[sha256])


def _live(n: int) -> LiveDags:
    return LiveDags(f"deploy-{n}", SHAS[n], True, etag=f'"deploy-{n}"')


@pytest.fixture
def server() -> Server:
    return Server()


def _folder(tmp_path: Path, server: Server, keep: int = 2) -> LiveFolder:
    cache = BundleCache(root=tmp_path / "cache", fetch=server.fetch)
    return LiveFolder(link=tmp_path / "dags", cache=cache, keep=keep)


def test_first_switch_downloads_and_shows_the_bundle(tmp_path: Path, server: Server) -> None:
    folder = _folder(tmp_path, server)
    switch = folder.switch_to(_live(0))
    assert switch is not None and switch.downloaded
    assert (switch.from_deploy_id, switch.to_deploy_id) == (None, "deploy-0")
    assert (tmp_path / "dags" / "dag.py").read_text() == "# version 0\n"
    assert folder.shown() == _live(0)
    assert not list((tmp_path / "cache" / "downloads").iterdir()), "downloads are removed"


def test_going_back_to_a_kept_bundle_downloads_nothing(tmp_path: Path, server: Server) -> None:
    folder = _folder(tmp_path, server)
    folder.switch_to(_live(0))
    folder.switch_to(_live(1))
    rollback = LiveDags("deploy-9", SHAS[0], True, etag='"deploy-9"')
    switch = folder.switch_to(rollback)
    assert switch is not None and not switch.downloaded
    assert "cached" in switch.describe()
    assert server.downloads == [SHAS[0], SHAS[1]]
    assert (tmp_path / "dags" / "dag.py").read_text() == "# version 0\n"


def test_the_same_deploy_again_is_no_switch(tmp_path: Path, server: Server) -> None:
    folder = _folder(tmp_path, server)
    folder.switch_to(_live(0))
    assert folder.switch_to(_live(0)) is None


def test_only_the_last_n_bundles_stay_unpacked(tmp_path: Path, server: Server) -> None:
    folder = _folder(tmp_path, server, keep=2)
    for n in range(4):
        folder.switch_to(_live(n))
        # Distinct mtimes: prune orders bundles by last use.
        os.utime(folder.cache.materialiser.path_for(SHAS[n]), (1000 + n, 1000 + n))
    folder.switch_to(_live(3))
    kept = {p.name for p in (tmp_path / "cache" / "bundles").iterdir() if len(p.name) == 64}
    assert kept == {SHAS[2], SHAS[3]}


def test_a_corrupt_download_keeps_the_last_good_code(tmp_path: Path, server: Server) -> None:
    folder = _folder(tmp_path, server)
    folder.switch_to(_live(0))
    server.corrupt = True
    with pytest.raises(InvalidBundle):
        folder.switch_to(_live(1))
    assert folder.shown() == _live(0)
    assert (tmp_path / "dags" / "dag.py").read_text() == "# version 0\n"


def test_a_deploy_without_bundle_shows_an_empty_folder(tmp_path: Path, server: Server) -> None:
    folder = _folder(tmp_path, server)
    folder.switch_to(_live(0))
    folder.switch_to(LiveDags("image-only", None, False, etag='"image-only"'))
    assert list((tmp_path / "dags").iterdir()) == []
    assert folder.shown() == LiveDags("image-only", None, False, etag='"image-only"')


def test_the_state_is_trusted_only_while_the_link_agrees(tmp_path: Path, server: Server) -> None:
    folder = _folder(tmp_path, server)
    folder.switch_to(_live(0))
    folder.switch_to(_live(1))
    # As if the agent died between a swap and the state write.
    folder.cache.materialiser.swap_live(folder.link, folder.cache.materialiser.path_for(SHAS[0]))
    assert folder.shown() is None
    assert _folder(tmp_path, server).switch_to(_live(0)) is not None


def test_a_real_directory_is_never_replaced(tmp_path: Path, server: Server) -> None:
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "mine.py").write_text("keep me")
    with pytest.raises(NotASymlink):
        _folder(tmp_path, server).switch_to(_live(0))
    assert (tmp_path / "dags" / "mine.py").read_text() == "keep me"


class DeltaServer(Server):
    """Also serves trees and files by digest; ``lie`` sends wrong bytes for every file."""

    def __init__(self) -> None:
        super().__init__()
        self.lie = False
        self.files_asked: list[str] = []

    def tree(self, sha256: str) -> dict[str, object]:
        files = _bundle_files(BY_SHA[sha256])
        return {
            "entries": [
                {"path": p, "type": "file", "size": len(d), "executable": False,
                 "sha256": hashlib.sha256(d).hexdigest()}
                for p, d in sorted(files.items())
            ]
        }  # fmt: skip

    def files(self, sha256: str, wanted: list[tuple[str, int]]) -> Any:
        by_digest = {
            hashlib.sha256(d).hexdigest(): d for d in _bundle_files(BY_SHA[sha256]).values()
        }
        for digest, _size in wanted:
            self.files_asked.append(digest)
            yield digest, iter([b"x" * len(by_digest[digest]) if self.lie else by_digest[digest]])


def _bundle_files(bundle: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def _delta_folder(tmp_path: Path, server: DeltaServer) -> LiveFolder:
    cache = BundleCache(root=tmp_path / "cache", fetch=server.fetch, files=server)
    return LiveFolder(link=tmp_path / "dags", cache=cache, keep=2)


def test_a_held_bundle_turns_the_next_download_into_a_delta(tmp_path: Path) -> None:
    server = DeltaServer()
    folder = _delta_folder(tmp_path, server)
    folder.switch_to(_live(0))
    folder.switch_to(_live(1))
    assert server.downloads == [SHAS[0]]  # the second bundle came as files
    assert server.files_asked == [
        hashlib.sha256(b"# version 1\n").hexdigest()
    ]  # only_1.py is empty, like only_0.py
    assert (tmp_path / "dags" / "dag.py").read_text() == "# version 1\n"


def test_a_failing_delta_falls_back_to_the_whole_bundle(tmp_path: Path) -> None:
    server = DeltaServer()
    folder = _delta_folder(tmp_path, server)
    folder.switch_to(_live(0))
    server.lie = True
    folder.switch_to(_live(1))
    assert server.downloads == [SHAS[0], SHAS[1]]
    assert (tmp_path / "dags" / "dag.py").read_text() == "# version 1\n"
    leftovers = [
        p.name for p in (tmp_path / "cache" / "bundles").iterdir() if p.name.startswith(".tmp-")
    ]
    assert leftovers == []
