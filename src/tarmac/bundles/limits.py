"""Size and shape limits that every DAG bundle must respect."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class BundleLimits:
    """Upper bounds checked while a bundle is uploaded, inspected and unpacked."""

    max_unpacked_bytes: int = 2 * 1024**3
    """Sum of the sizes of all regular files once unpacked."""
    max_members: int = 100_000
    """Number of tar members (files, directories and links)."""
    max_compression_ratio: float = 200.0
    """Unpacked tar stream bytes per compressed byte, checked once past 1 MiB (gzip bombs)."""
    max_upload_bytes: int = 1024**3
    """Size of the compressed bundle as uploaded."""

    @classmethod
    def from_environment(cls) -> BundleLimits:
        """Defaults overridden by the server's own ``TARMAC_MAX_BUNDLE_*`` variables.

        The agent and the Airflow bundle run without the server's settings library; they
        read the same variable names so that a server allowing larger bundles can be
        followed by its agents (set the same values beside them).
        """
        defaults = cls()
        return cls(
            max_unpacked_bytes=int(
                os.environ.get("TARMAC_MAX_BUNDLE_UNPACKED_BYTES", defaults.max_unpacked_bytes)
            ),
            max_members=int(os.environ.get("TARMAC_MAX_BUNDLE_MEMBERS", defaults.max_members)),
            max_compression_ratio=float(
                os.environ.get(
                    "TARMAC_MAX_BUNDLE_COMPRESSION_RATIO", defaults.max_compression_ratio
                )
            ),
            max_upload_bytes=int(
                os.environ.get("TARMAC_MAX_BUNDLE_UPLOAD_BYTES", defaults.max_upload_bytes)
            ),
        )
