"""Inspection of an uploaded bundle before it is accepted: safe, within limits, listed."""

from __future__ import annotations

import os
from pathlib import Path

from tarmac.bundles.limits import BundleLimits
from tarmac.bundles.manifest import BundleManifest
from tarmac.bundles.scan import scan_bundle
from tarmac.errors import InvalidBundle


def inspect_bundle(path: Path, *, limits: BundleLimits) -> BundleManifest:
    """The manifest of the gzip tar at ``path``, or ``InvalidBundle`` naming what is wrong.

    Reads the file once as a stream. Refuses anything that is not a complete gzip tar,
    any member that is not a regular file, directory or safe link (see
    :mod:`tarmac.bundles.members`), and anything over ``limits``.
    """
    with path.open("rb") as raw:
        # Checked here, not in scan_bundle: a blob accepted under an older, larger limit
        # must still unpack, or the deploys that use it could not be rolled back to.
        if os.fstat(raw.fileno()).st_size > limits.max_upload_bytes:
            raise InvalidBundle(
                "bundle is larger than allowed", max_upload_bytes=limits.max_upload_bytes
            )
        return scan_bundle(raw, limits=limits).manifest
