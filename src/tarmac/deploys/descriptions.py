"""The one limit on a deploy's description, for plain deploys and rollbacks alike."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from tarmac.errors import InvalidRequest

MAX_DESCRIPTION_LENGTH = 500
"""Characters, counted after trimming; Astro's rollback limit, and a rollback is a deploy."""

DeployDescription = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=MAX_DESCRIPTION_LENGTH)
]
"""A description field of a request body: trimmed, then limited."""


def clean_description(value: str | None) -> str | None:
    """The trimmed description (None when missing or blank); refuses one over the limit."""
    trimmed = (value or "").strip() or None
    if trimmed is not None and len(trimmed) > MAX_DESCRIPTION_LENGTH:
        raise InvalidRequest(
            f"The description is longer than {MAX_DESCRIPTION_LENGTH} characters.",
            field="description",
            max_length=MAX_DESCRIPTION_LENGTH,
        )
    return trimmed
