"""How large a request body each endpoint may receive, and whether it needs a token first.

Sizes are the largest legitimate body of each endpoint, with room to spare; they are
checked by ``tests/unit/api/test_body_limits.py`` against bodies built at the schemas'
own maximums, so a schema that grows past its limit fails a test rather than a user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB

SMALL_JSON_BYTES = 8 * KIB
"""Users, tokens, passwords, members, pins, cleanup: a few short strings."""

ROLLBACK_JSON_BYTES = 8 * KIB
"""A rollback's description is up to 500 characters: 3,000 bytes if each is sent as a
``\\uXXXX`` escape, plus the acknowledgements."""

DEPLOYMENT_JSON_BYTES = 1 * MIB
"""A Deployment's settings with up to 1,000 environment variables (about 1 KiB each on
average; one value may be up to 64 KiB)."""

RUNTIME_REPORT_BYTES = 256 * KIB
"""The runtime side's report: a row count per metadata table (about 100 tables), an error
of up to 8,000 characters, the component list."""

UI_FORM_BYTES = 1 * MIB
"""UI forms: the settings form carries the environment variables, URL-encoded."""

BLOB_FILES_REQUEST_BYTES = 8 * MIB
"""An agent's delta request names the files it lacks by digest (67 bytes each in JSON): a
bundle at the default limit of 100,000 files is 6.7 MB. (With 8 KiB, any delta of more
than about 120 files was refused and the agent downloaded the whole bundle.)"""

UPLOAD_FORM_SLACK_BYTES = 1 * MIB
"""Multipart framing and the text fields around a deploy's bundle."""

_DEPLOY_UPLOAD = re.compile(r"^/api/v1/deployments/[^/]+/deploys/?$")
_ROLLBACK = re.compile(r"^/api/v1/deployments/[^/]+/deploys/[^/]+/rollback/?$")
_DEPLOYMENT = re.compile(r"^/api/v1/deployments(/[^/]+)?/?$")
_RUNTIME_REPORT = re.compile(r"^/api/v1/deployments/[^/]+/runtime/?$")
_BLOB_FILES = re.compile(r"^/api/v1/blobs/[^/]+/files/?$")


@dataclass(frozen=True)
class BodyRule:
    """What an endpoint accepts: at most ``max_bytes``; ``upload`` marks the bundle upload
    (refused as ``invalid_bundle``, like every other bundle limit); ``needs_token`` means
    the bearer token is checked before a byte of the body is read."""

    max_bytes: int
    upload: bool = False
    needs_token: bool = True


def body_rule(*, method: str, path: str, max_upload_bytes: int) -> BodyRule:
    """The rule for a request with a body."""
    if path.startswith("/ui/") or path == "/ui":
        return BodyRule(max_bytes=UI_FORM_BYTES, needs_token=False)
    if not path.startswith("/api/"):
        return BodyRule(max_bytes=SMALL_JSON_BYTES, needs_token=False)
    if method == "POST" and _DEPLOY_UPLOAD.match(path):
        return BodyRule(max_bytes=max_upload_bytes + UPLOAD_FORM_SLACK_BYTES, upload=True)
    if method == "POST" and _ROLLBACK.match(path):
        return BodyRule(max_bytes=ROLLBACK_JSON_BYTES)
    if _DEPLOYMENT.match(path):
        return BodyRule(max_bytes=DEPLOYMENT_JSON_BYTES)
    if method == "PUT" and _RUNTIME_REPORT.match(path):
        return BodyRule(max_bytes=RUNTIME_REPORT_BYTES)
    if method == "POST" and _BLOB_FILES.match(path):
        return BodyRule(max_bytes=BLOB_FILES_REQUEST_BYTES)
    return BodyRule(max_bytes=SMALL_JSON_BYTES)
