"""LiveFolder and BundleCache: switches, cached switches without download, pruning, refusals."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

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
