"""Container image references: ``repo[:tag][@sha256:digest]``."""

from __future__ import annotations

import re

from tarmac.errors import InvalidRequest

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REGISTRY = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9-]+)*(?::[0-9]+)?/)?"
_IMAGE_REF = re.compile(
    rf"^{_REGISTRY}{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@sha256:[a-f0-9]{64})?$"
)


def check_image_ref(image: str) -> str:
    """The image reference, stripped, or 400 ``invalid_request`` explaining the format."""
    image = image.strip()
    if len(image) > 512 or not _IMAGE_REF.match(image):
        raise InvalidRequest(
            f"image {image[:100]!r} is not a valid reference (repo[:tag][@sha256:digest])",
            field="image",
        )
    return image
