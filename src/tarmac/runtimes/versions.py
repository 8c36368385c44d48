"""Parsing and ordering of runtime and Airflow version strings."""

from __future__ import annotations

import re

_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_NEW_FORMAT = re.compile(r"^(\d+)\.(\d+)-(\d+)$")  # 3.1-2: Airflow 3.1, runtime patch 2
_AIRFLOW = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")

MINIMUM_ROLLBACK_AIRFLOW = (2, 3, 0)
"""Rule 5: rollbacks need runtime 5.0.0, whose Airflow is 2.3.0."""


def parse_airflow_version(version: str) -> tuple[int, int, int]:
    """``"2.10.5"`` → ``(2, 10, 5)``; pre-release suffixes are ignored."""
    match = _AIRFLOW.match(version.strip())
    if not match:
        raise ValueError(f"not an Airflow version: {version!r}")
    return int(match[1]), int(match[2]), int(match[3] or 0)


def is_runtime_version_syntax(version: str) -> bool:
    """Whether a string looks like ``12.4.0`` or ``3.1-2``."""
    return bool(_SEMVER.match(version) or _NEW_FORMAT.match(version))


def runtime_parts(version: str) -> tuple[int, ...]:
    """The numbers of a runtime version, for ordering within one Airflow minor."""
    match = _SEMVER.match(version) or _NEW_FORMAT.match(version)
    if not match:
        raise ValueError(f"not a runtime version: {version!r}")
    return tuple(int(part) for part in match.groups())
