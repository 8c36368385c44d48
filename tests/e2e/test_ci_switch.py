"""CI cannot pass by skipping: one switch turns a missing PostgreSQL (or Chromium, or
Airflow) into a failure, and .ci/run sets it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.requirements import NO_SKIP_ENV

ROOT = Path(__file__).resolve().parents[2]
A_POSTGRES_TEST = (
    "tests/integration/test_idempotency_keys.py::test_the_same_deploy_request_is_replayed[postgres]"
)


def _run(extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TARMAC_TEST_POSTGRES_URL", NO_SKIP_ENV, "CI")
        and not k.startswith("TARMAC_REQUIRE_")
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-n",
            "0",
            "-p",
            "no:cacheprovider",
            A_POSTGRES_TEST,
        ],
        cwd=ROOT,
        env={**env, **extra_env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_without_the_switch_a_missing_postgres_skips() -> None:
    result = _run({})
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout


def test_with_the_switch_a_missing_postgres_fails() -> None:
    result = _run({NO_SKIP_ENV: "1"})
    assert result.returncode != 0
    assert "1 error" in result.stdout or "1 failed" in result.stdout, result.stdout
    assert NO_SKIP_ENV in result.stdout


def test_ci_sets_the_switch() -> None:
    assert f"export {NO_SKIP_ENV}=1" in (ROOT / ".ci" / "run").read_text()
