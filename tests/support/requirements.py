"""One switch for CI: ``TARMAC_NO_SKIP=1`` turns every "cannot run here" into a failure.

Tests that need PostgreSQL, Chromium or a real Airflow skip on a laptop without them;
CI (``.ci/run``) sets the switch so none of them can pass by being skipped.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

NO_SKIP_ENV = "TARMAC_NO_SKIP"
# Older, narrower switches still honoured.
_LEGACY_ENVS = ("TARMAC_REQUIRE_POSTGRES", "TARMAC_REQUIRE_BROWSER", "CI")


def skips_are_failures() -> bool:
    return any(os.environ.get(name) for name in (NO_SKIP_ENV, *_LEGACY_ENVS))


def cannot_run(message: str) -> NoReturn:
    """Skip, or fail when CI forbids skipping."""
    if skips_are_failures():
        pytest.fail(f"{message} ({NO_SKIP_ENV} forbids skipping)")
    pytest.skip(message)
