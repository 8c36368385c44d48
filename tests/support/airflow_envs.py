"""Test-only: an EnvironmentCache seeded with the machine's prepared Airflow environments.

Building an environment from PyPI takes minutes; `.ci/run` prepares Airflow 2.10.5 and
3.1.8 once per machine (`tarmac runtime prepare`) into the default cache, and the tests
reuse those exact environments. Seeding writes what ``EnvironmentCache.ensure`` would have written
(``specs/<key>.json`` → ``envs/<digest>``), so the code under test takes the cache path.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tarmac.local_runtime.environments import (
    EnvironmentCache,
    EnvironmentSpec,
    default_cache_root,
)


def _prepared(version: str) -> Path:
    spec = EnvironmentSpec(airflow_version=version)
    environment = EnvironmentCache(default_cache_root()).find(spec)
    return environment.path if environment else Path(f"/nonexistent/prepared-airflow-{version}")


WARM_VENVS = {version: _prepared(version) for version in ("3.1.8", "2.10.5")}
"""The prepared environments (`tarmac runtime prepare 3.1-9` and `12.11.0`)."""

CATALOG = {
    "runtimeVersions": {
        "12.5.0": {
            "metadata": {
                "airflowVersion": "2.10.5",
                "channel": "stable",
                "releaseDate": "2025-02-01",
                "yanked": False,
                "yankedReason": None,
            }
        },
        "3.1-9": {
            "metadata": {
                "airflowVersion": "3.1.8",
                "channel": "stable",
                "releaseDate": "2026-03-01",
                "yanked": False,
                "yankedReason": None,
            }
        },
    }
}
"""A runtime catalog whose runtimes map to the warm venvs' exact Airflow versions."""


def seeded_cache(root: Path, *versions: str) -> EnvironmentCache:
    """An EnvironmentCache under ``root`` that finds the warm venvs of ``versions``."""
    cache = EnvironmentCache(root)
    for version in versions:
        venv = WARM_VENVS[version]
        if not (venv / "bin" / "python").exists():
            message = f"Airflow {version} is not prepared: run `tarmac runtime prepare`"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        spec = EnvironmentSpec(airflow_version=version)
        digest = hashlib.sha256(f"warm {venv}".encode()).hexdigest()[:32]
        (root / "envs").mkdir(parents=True, exist_ok=True)
        link = root / "envs" / digest
        if not link.exists():
            link.symlink_to(venv)
        (root / "specs").mkdir(parents=True, exist_ok=True)
        (root / "specs" / f"{spec.key}.json").write_text(json.dumps({"digest": digest}))
        assert cache.find(spec) is not None
    return cache


def write_catalog(path: Path) -> Path:
    path.write_text(json.dumps(CATALOG))
    return path
