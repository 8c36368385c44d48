"""The agent's DAGs folder: a symlink swapped atomically from one unpacked bundle to another.

Beside the link, ``.<name>.tarmac.json`` records which deploy the link shows (and its
ETag), so a restarted agent resumes long polling without downloading anything. It is
trusted only while the link still points at that deploy's bundle.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tarmac.agent.cache import BundleCache
from tarmac.agent.client import LiveDags
from tarmac.agent.freshness import FileDigests, changed_files, touch, touch_again_later
from tarmac.bundles.materialiser import write_json_atomically

log = logging.getLogger(__name__)


class ParseRequests(Protocol):
    """Asks Airflow to parse changed files next (``tarmac.agent.reparse``)."""

    def request(self, folder: Path, changed: Iterable[str]) -> list[str]: ...


class NotASymlink(Exception):
    """The DAGs folder exists and is not a symlink: the agent will not replace real files."""


@dataclass(frozen=True)
class Switch:
    """One change of the live DAGs: from which deploy to which, and how long it took."""

    from_deploy_id: str | None
    to_deploy_id: str | None
    bundle_sha256: str | None
    seconds: float
    downloaded: bool

    def describe(self) -> str:
        how = "downloaded" if self.downloaded else "cached"
        bundle = (self.bundle_sha256 or "none")[:12]
        return (
            f"switched DAGs from deploy {self.from_deploy_id or '-'} to deploy "
            f"{self.to_deploy_id or '-'} (bundle {bundle}, {how}) in {self.seconds:.3f} s"
        )


class LiveFolder:
    """Keeps ``link`` on the bundle of the deploy it is told is live."""

    def __init__(
        self,
        *,
        link: Path,
        cache: BundleCache,
        keep: int,
        reparse: ParseRequests | None = None,
    ) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1 (the live bundle)")
        self.link = link
        self.cache = cache
        self.keep = keep
        self.state_file = link.parent / f".{link.name}.tarmac.json"
        self.digests = FileDigests(cache.root / "digests", trees=cache.trees_dir)
        self.reparse = reparse

    def check(self) -> None:
        """Refuse a DAGs folder that is a real file or directory (it is never overwritten)."""
        if self.link.exists() and not self.link.is_symlink():
            raise NotASymlink(
                f"{self.link} exists and is not a symlink; move it away or pick another path"
            )

    def shown(self) -> LiveDags | None:
        """The deploy the link shows now, if the state file and the link agree."""
        try:
            data = json.loads(self.state_file.read_text())
            shown = LiveDags.from_json(data, etag=data.get("etag"))
        except (OSError, ValueError, AttributeError):
            return None
        target = self.cache.materialiser.live_target(self.link)
        if target != shown.bundle_sha256 or not self.link.is_dir():
            return None
        return shown

    def switch_to(self, live: LiveDags) -> Switch | None:
        """Make ``live`` the code the link shows; None if it already does."""
        self.check()
        before = self.shown()
        started = time.monotonic()
        downloaded = not self.cache.has(live.bundle_sha256)
        same_bundle = (
            self.link.is_dir()
            and self.cache.materialiser.live_target(self.link) == live.bundle_sha256
        )
        if not same_bundle:
            target = self.cache.ensure(live.bundle_sha256)
            previous = self._shown_dir()
            self.cache.materialiser.swap_live(self.link, target)
            self._freshen(previous, target)
        self.link.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomically(self.state_file, live.to_json())
        if before is not None and before.deploy_id == live.deploy_id:
            return None
        switch = Switch(
            from_deploy_id=before.deploy_id if before else None,
            to_deploy_id=live.deploy_id,
            bundle_sha256=live.bundle_sha256,
            seconds=time.monotonic() - started,
            downloaded=downloaded and not same_bundle,
        )
        self._prune(live.bundle_sha256)
        return switch

    def changes_to(self, target: Path) -> list[str]:
        """Files of ``target`` whose content differs from the shown bundle's ([] if none shown)."""
        previous = self._shown_dir()
        if previous is None:
            return []
        return changed_files(before=self.digests.of(previous), after=self.digests.of(target))

    def _shown_dir(self) -> Path | None:
        """The unpacked bundle the link points at now (None before the first switch)."""
        if not self.link.is_symlink():
            return None
        target = Path(os.path.realpath(self.link))
        return target if target.is_dir() else None

    def _freshen(self, previous: Path | None, target: Path) -> None:
        """After the swap: new mtimes on the files that changed, so Airflow re-parses them."""
        if previous is None:
            return  # Airflow has parsed nothing from this folder yet
        try:
            changed = changed_files(before=self.digests.of(previous), after=self.digests.of(target))
            touch(folder=target, paths=changed)
        except OSError:  # the switch stands; Airflow then notices at its next full cycle
            log.exception("could not refresh the mtimes of changed files in %s", target)
            return
        log.debug("refreshed the mtime of %d changed file(s) in %s", len(changed), target)
        touch_again_later(link=self.link, folder=target, paths=changed)
        if self.reparse is not None:
            requested = self.reparse.request(target, changed)
            log.debug("asked Airflow to parse %d file(s) next", len(requested))

    def _prune(self, live_sha256: str | None) -> None:
        try:
            protect = [live_sha256] if live_sha256 else []
            self.cache.prune(keep=self.keep, protect=protect, links=[self.link])
            self.digests.prune(bundles_dir=self.cache.materialiser.bundles_dir)
        except OSError:  # a full or read-only disk must not undo a switch that succeeded
            log.exception("could not prune unpacked bundles in %s", self.cache.root)
