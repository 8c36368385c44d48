"""Shared fixtures: every integration test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.support.requirements import cannot_run
from tests.support.s3 import S3Server, running_s3_server

POSTGRES_URL_ENV = "TARMAC_TEST_POSTGRES_URL"


def pytest_configure(config: pytest.Config) -> None:
    """No test builds an Airflow environment for the import gate unless it asks to.

    Servers started in-process and as subprocesses read these; the gate then records
    ``skipped`` (no environment) instead of installing Airflow from PyPI in every test.
    Tests of the gate itself point ``runtime_env_dir`` at a prepared cache.
    """
    os.environ.setdefault("TARMAC_IMPORT_CHECK_BUILD_ENVIRONMENTS", "false")
    os.environ.setdefault("TARMAC_RUNTIME_ENV_DIR", "/nonexistent/tarmac-test-no-environments")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new PostgreSQL schema per test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tarmac.db'}"
        return
    yield from _postgres_schema()


def _postgres_schema() -> Iterator[str]:
    base = os.environ.get(POSTGRES_URL_ENV)
    if not base:
        cannot_run(f"{POSTGRES_URL_ENV} is not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(make_url(base).set(drivername="postgresql+psycopg"))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).set(drivername="postgresql+psycopg")
    url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One moto S3 server process for the session (each test makes its own bucket)."""
    with running_s3_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL schema (for tests that only make sense on PostgreSQL)."""
    yield from _postgres_schema()
