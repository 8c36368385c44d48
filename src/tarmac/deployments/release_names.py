"""Release names: unique, URL-safe and recognisable handles for a Deployment."""

from __future__ import annotations

import re
import secrets
import unicodedata

_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no look-alikes (l/1, o/0)


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:40].strip("-") or "deployment"


def new_release_name(name: str) -> str:
    """``"Sales ETL"`` → ``"sales-etl-k7q2m"``; the suffix makes clashes unlikely."""
    suffix = "".join(secrets.choice(_ALPHABET) for _ in range(5))
    return f"{slugify(name)}-{suffix}"
