"""Bundles kept unpacked on the agent's disk, by sha256, so going back to one costs no download.

A bundle the agent lacks is built from the files of the bundles it holds plus the files
it lacks, fetched by digest (``delta``), when the server offers the bundle's tree and the
agent holds a recorded tree of at least one other bundle; otherwise, or if that fails
for any reason, the whole bundle is downloaded and unpacked as before.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Collection
from pathlib import Path
from typing import BinaryIO

from tarmac.agent import delta
from tarmac.agent.client import AgentRejected, BundleDigestMismatch
from tarmac.bundles.digests import is_sha256
from tarmac.bundles.limits import BundleLimits
from tarmac.bundles.materialiser import Materialiser
from tarmac.bundles.tree import BundleTree
from tarmac.errors import TarmacError

log = logging.getLogger(__name__)

EMPTY_BUNDLE_DIR = ".empty"
"""What a deploy without a DAG bundle (an image-only history) makes live: no DAGs."""

Fetch = Callable[[str, Path], None]
"""Writes the verified bytes of bundle ``sha256`` to a path (see ``LiveCodeClient.download``)."""

_DELTA_FAILURES = (AgentRejected, BundleDigestMismatch, TarmacError, OSError, ValueError)


class BundleCache:
    """Verified bundles unpacked under ``root/bundles``; missing ones are fetched first."""

    def __init__(
        self,
        *,
        root: Path,
        fetch: Fetch,
        limits: BundleLimits | None = None,
        files: delta.FileSource | None = None,
    ) -> None:
        self.root = root
        self.materialiser = Materialiser(root / "bundles")
        self._downloads = root / "downloads"
        self.trees_dir = root / "trees"
        """Recorded trees of the bundles held (their files' digests), ``delta.record_tree``."""
        self._fetch = fetch
        self._files = files
        self._limits = limits or BundleLimits.from_environment()
        self.last_fetched_bytes = 0
        """Bytes the last ``ensure`` that built a bundle took from the server."""

    def has(self, sha256: str | None) -> bool:
        """Whether the bundle is unpacked already (a switch to it needs no download)."""
        return sha256 is None or self.materialiser.path_for(sha256).is_dir()

    def ensure(self, sha256: str | None) -> Path:
        """The unpacked directory of bundle ``sha256`` (an empty one for None)."""
        if sha256 is None:
            empty = self.materialiser.bundles_dir / EMPTY_BUNDLE_DIR
            empty.mkdir(parents=True, exist_ok=True)
            return empty
        if self.has(sha256):
            return self._whole(sha256)  # unpacked: returns at once, downloading nothing
        tree = self._files.tree(sha256) if self._files is not None else None
        built = self._by_delta(sha256, tree) if tree is not None else None
        if built is None:
            built = self._whole(sha256)
        if tree is not None:
            delta.record_tree(self.trees_dir, sha256, tree)
        return built

    def _by_delta(self, sha256: str, data: dict[str, object]) -> Path | None:
        """Build from local files and fetched ones; None if there is nothing to build from."""
        assert self._files is not None
        source = self._files
        local = delta.local_files(self.materialiser.bundles_dir, self.trees_dir, self._held())
        if not local:
            return None
        stats = delta.DeltaStats()
        try:
            tree = BundleTree.from_json(data, limits=self._limits)

            def fill(tmp: Path) -> None:
                nonlocal stats
                stats = delta.assemble(tmp, sha256=sha256, tree=tree, local=local, source=source)

            path = self.materialiser.build(sha256, fill=fill)
        except _DELTA_FAILURES as exc:
            log.warning(
                "building bundle %s from a delta failed (%s); downloading it whole",
                sha256[:12],
                exc,
            )
            return None
        self.last_fetched_bytes = stats.fetched_bytes
        log.info(
            "bundle %s: %d of %d files fetched (%d bytes), %d linked from bundles held",
            sha256[:12], stats.fetched, stats.files, stats.fetched_bytes, stats.linked,
        )  # fmt: skip
        return path

    def _whole(self, sha256: str) -> Path:
        part = self._downloads / f"{sha256}.{secrets.token_hex(4)}.part"

        def open_blob() -> BinaryIO:
            self._downloads.mkdir(parents=True, exist_ok=True)
            self._fetch(sha256, part)
            self.last_fetched_bytes = part.stat().st_size
            return part.open("rb")

        try:
            # The materialiser checks the digest again, and every member, as it unpacks.
            return self.materialiser.ensure_unpacked(
                sha256, open_blob=open_blob, limits=self._limits
            )
        finally:
            part.unlink(missing_ok=True)

    def _held(self) -> list[str]:
        bundles = self.materialiser.bundles_dir
        if not bundles.is_dir():
            return []
        return [p.name for p in bundles.iterdir() if is_sha256(p.name) and p.is_dir()]

    def prune(
        self, *, keep: int, protect: Collection[str] = (), links: Collection[Path] = ()
    ) -> list[str]:
        """Remove unpacked bundles beyond the ``keep`` most recently used (never a live one)."""
        removed = self.materialiser.prune(keep=keep, protect=protect, live_links=links)
        for sha256 in removed:
            delta.remove_tree_record(self.trees_dir, sha256)
        return removed
