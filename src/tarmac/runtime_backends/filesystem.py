"""The default runtime backend: live code as folders and an atomic symlink on disk.

``<data-dir>/deployments/<release-name>/dags`` points at ``<data-dir>/bundles/<sha256>``
and ``runtime.json`` beside it names the live image, runtime and deploy. The symlink
swap is one atomic rename; ``runtime.json`` is replaced atomically just before it, and
``reconcile`` re-applies the database's state after a crash between the two.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from tarmac.bundles.limits import BundleLimits
from tarmac.bundles.manifest import BundleManifest
from tarmac.bundles.materialiser import Materialiser, write_json_atomically
from tarmac.failpoints import failpoint
from tarmac.runtime_backends.base import LiveSpec

EMPTY_BUNDLE_DIR = ".empty"


class FilesystemBackend:
    def __init__(
        self,
        *,
        data_dir: Path,
        open_blob: Callable[[str], BinaryIO],
        limits: BundleLimits,
    ) -> None:
        self.deployments_dir = data_dir / "deployments"
        self.materialiser = Materialiser(data_dir / "bundles")
        self._open_blob = open_blob
        self._limits = limits

    def dags_link(self, release_name: str) -> Path:
        return self.deployments_dir / release_name / "dags"

    def spec_path(self, release_name: str) -> Path:
        return self.deployments_dir / release_name / "runtime.json"

    def prepare(self, bundle_sha256: str | None) -> None:
        self._bundle_dir(bundle_sha256)

    def is_prepared(self, bundle_sha256: str | None) -> bool:
        return bundle_sha256 is None or self.materialiser.is_unpacked(bundle_sha256)

    def unpack_upload(
        self, bundle_sha256: str, path: Path, *, limits: BundleLimits
    ) -> BundleManifest | None:
        return self.materialiser.unpack_upload(bundle_sha256, path, limits=limits)

    def unpacked_bundle(self, bundle_sha256: str) -> Path | None:
        return self._bundle_dir(bundle_sha256)

    def make_live(self, *, release_name: str, spec: LiveSpec) -> None:
        target = self._bundle_dir(spec.code.bundle_sha256)
        (self.deployments_dir / release_name).mkdir(parents=True, exist_ok=True)
        write_json_atomically(self.spec_path(release_name), spec.to_json())
        failpoint("between_spec_and_swap")
        self.materialiser.swap_live(self.dags_link(release_name), target)
        failpoint("after_swap")

    def live_spec(self, *, release_name: str) -> LiveSpec | None:
        path = self.spec_path(release_name)
        if not path.exists():
            return None
        spec = LiveSpec.from_json(json.loads(path.read_text()))
        # The spec is written first: trust it only if the symlink agrees with it.
        if self.materialiser.live_target(self.dags_link(release_name)) != spec.code.bundle_sha256:
            return None
        return spec

    def _bundle_dir(self, sha: str | None) -> Path:
        if sha is None:
            empty = self.materialiser.bundles_dir / EMPTY_BUNDLE_DIR
            empty.mkdir(parents=True, exist_ok=True)
            return empty
        return self.materialiser.ensure_unpacked(
            sha, open_blob=lambda: self._open_blob(sha), limits=self._limits
        )
