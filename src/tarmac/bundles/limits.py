"""Size and shape limits that every DAG bundle must respect."""

from __future__ import annotations

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
