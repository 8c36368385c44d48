"""Bundles kept unpacked on the agent's disk, by sha256, so going back to one costs no download."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection
from pathlib import Path
from typing import BinaryIO

from tarmac.bundles.limits import BundleLimits
from tarmac.bundles.materialiser import Materialiser

EMPTY_BUNDLE_DIR = ".empty"
"""What a deploy without a DAG bundle (an image-only history) makes live: no DAGs."""

Fetch = Callable[[str, Path], None]
"""Writes the verified bytes of bundle ``sha256`` to a path (see ``LiveCodeClient.download``)."""


class BundleCache:
    """Verified bundles unpacked under ``root/bundles``; missing ones are fetched first."""

    def __init__(self, *, root: Path, fetch: Fetch, limits: BundleLimits | None = None) -> None:
        self.root = root
        self.materialiser = Materialiser(root / "bundles")
        self._downloads = root / "downloads"
        self._fetch = fetch
        self._limits = limits or BundleLimits.from_environment()

    def has(self, sha256: str | None) -> bool:
        """Whether the bundle is unpacked already (a switch to it needs no download)."""
        return sha256 is None or self.materialiser.path_for(sha256).is_dir()

    def ensure(self, sha256: str | None) -> Path:
        """The unpacked directory of bundle ``sha256`` (an empty one for None)."""
        if sha256 is None:
            empty = self.materialiser.bundles_dir / EMPTY_BUNDLE_DIR
            empty.mkdir(parents=True, exist_ok=True)
            return empty
        part = self._downloads / f"{sha256}.{secrets.token_hex(4)}.part"

        def open_blob() -> BinaryIO:
            # Called only when the bundle is not unpacked yet: a cached switch downloads nothing.
            self._downloads.mkdir(parents=True, exist_ok=True)
            self._fetch(sha256, part)
            return part.open("rb")

        try:
            # The materialiser checks the digest again, and every member, as it unpacks.
            return self.materialiser.ensure_unpacked(
                sha256, open_blob=open_blob, limits=self._limits
            )
        finally:
            part.unlink(missing_ok=True)

    def prune(
        self, *, keep: int, protect: Collection[str] = (), links: Collection[Path] = ()
    ) -> list[str]:
        """Remove unpacked bundles beyond the ``keep`` most recently used (never a live one)."""
        return self.materialiser.prune(keep=keep, protect=protect, live_links=links)
