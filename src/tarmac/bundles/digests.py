"""sha256 digests as tarmac spells them: 64 lowercase hexadecimal characters."""

from __future__ import annotations

import re

from tarmac.errors import InvalidRequest

_SHA256 = re.compile(r"[0-9a-f]{64}")


def is_sha256(value: str) -> bool:
    """Whether ``value`` is a well-formed lowercase hex sha256 digest."""
    return _SHA256.fullmatch(value) is not None


def require_sha256(value: str) -> str:
    """Return ``value`` if it is a well-formed sha256 digest, else refuse it."""
    # Checked before a digest becomes part of a file path, so it can never traverse.
    if not isinstance(value, str) or not is_sha256(value):
        raise InvalidRequest("not a sha256 digest (64 lowercase hex characters)", field="sha256")
    return value
