"""After a switch, give the files whose content changed a new mtime, so Airflow re-parses them.

Airflow re-parses a file it parsed within ``min_file_process_interval`` only if the
file's mtime is newer than that parse (``file_parsing_sort_mode = modified_time``, the
default, in Airflow 2.x and 3.x). An unpacked bundle keeps the mtimes of its unpacking,
so after a rollback to a bundle unpacked earlier Airflow saw nothing new and waited for
its next full cycle. Touching exactly the changed files after the swap fixes that;
unchanged files keep their mtimes and are not re-parsed.

Which files changed is found from per-bundle content digests (``digests/<sha256>.json``,
computed once per bundle), so a switch never re-reads both trees.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path

from tarmac.agent.delta import recorded_files
from tarmac.bundles.digests import is_sha256
from tarmac.bundles.durable import write_json_atomically

log = logging.getLogger(__name__)


class FileDigests:
    """``{relative path: sha256}`` of every regular file of an unpacked bundle, cached.

    A bundle whose tree the agent recorded (``trees/<sha256>.json``, the server's list of
    its files with their digests) needs no reading at all: hashing a new 5,000-file
    bundle after its swap took ~350 ms, during which the agent did not hear of the next
    rollback.
    """

    def __init__(self, root: Path, *, trees: Path | None = None) -> None:
        self.root = root
        self.trees = trees

    def of(self, bundle_dir: Path) -> dict[str, str]:
        name = bundle_dir.name
        cached = self.root / f"{name}.json"
        if is_sha256(name):
            try:
                data = json.loads(cached.read_text())
                return {str(k): str(v) for k, v in data.items()}
            except (OSError, ValueError, AttributeError):
                pass
        digests = self._from_tree(name) if is_sha256(name) else None
        if digests is None:
            digests = _digest_tree(bundle_dir)
        if is_sha256(name):  # a bundle is immutable: its digests never change
            self.root.mkdir(parents=True, exist_ok=True)
            write_json_atomically(cached, digests)
        return digests

    def _from_tree(self, sha256: str) -> dict[str, str] | None:
        files = recorded_files(self.trees, sha256) if self.trees is not None else None
        if files is None:
            return None  # none recorded, or not readable: hash the files instead
        return {entry["path"]: entry["sha256"] for entry in files if is_sha256(entry["sha256"])}

    def prune(self, *, bundles_dir: Path) -> None:
        """Forget the digests of bundles no longer unpacked."""
        if not self.root.is_dir():
            return
        for entry in self.root.glob("*.json"):
            if not (bundles_dir / entry.stem).is_dir():
                entry.unlink(missing_ok=True)


def changed_files(*, before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The paths of ``after`` whose content is new or differs from ``before``, sorted."""
    return sorted(path for path, digest in after.items() if before.get(path) != digest)


def touch(*, folder: Path, paths: list[str]) -> None:
    """Set the mtime of each of ``paths`` in ``folder`` to now."""
    for path in paths:
        os.utime(folder / path, follow_symlinks=False)


SETTLE_DELAYS_SECONDS = (3.0, 15.0)
"""When the changed files are touched again after a switch (see ``touch_again_later``)."""


def touch_again_later(
    *,
    link: Path,
    folder: Path,
    paths: list[str],
    delays: tuple[float, ...] = SETTLE_DELAYS_SECONDS,
) -> None:
    """Touch ``paths`` again after each delay, while ``link`` still shows ``folder``.

    A parse that started before the swap read the old code; if it ends after the first
    touch, Airflow records it as newer than the file and skips the file until its next
    full cycle. Touching again once such a parse has ended closes that window, at the
    cost of at most one more parse of each changed file per delay.
    """
    if not paths:
        return

    def touch() -> None:
        try:
            if Path(os.path.realpath(link)) != folder.resolve():
                return  # another switch came since: it touches its own files
            for path in paths:
                os.utime(folder / path, follow_symlinks=False)
        except OSError:
            log.debug("could not touch %d file(s) in %s again", len(paths), folder)

    for delay in delays:
        timer = threading.Timer(delay, touch)
        timer.daemon = True
        timer.start()


def _digest_tree(folder: Path) -> dict[str, str]:
    digests: dict[str, str] = {}
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root, name)
            if path.is_symlink() or not path.is_file():
                continue
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
            digests[str(path.relative_to(folder))] = digest.hexdigest()
    return digests
