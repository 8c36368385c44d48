"""What replicas without a shared disk need at start: one secret key, one migration at a time."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import inspect

from tarmac.db.engine import make_engine
from tarmac.db.migrate import upgrade_to_head
from tarmac.errors import ConfigurationError
from tarmac.installation.context import open_blob_store
from tarmac.settings import load_settings


def test_an_s3_store_needs_a_shared_secret_key(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, blob_store_url="s3://bucket/prefix")
    with pytest.raises(ConfigurationError, match="TARMAC_SECRET_KEY"):
        open_blob_store(settings)


def test_an_s3_url_must_be_one(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path, blob_store_url="https://bucket/prefix", secret_key="k"
    )
    with pytest.raises(ConfigurationError, match="s3://BUCKET/PREFIX"):
        open_blob_store(settings)


@pytest.mark.postgres
def test_replicas_starting_together_migrate_one_after_the_other(postgres_url: str) -> None:
    engines = [make_engine(postgres_url) for _ in range(3)]
    try:
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(upgrade_to_head, engines))
        assert "deploys" in inspect(engines[0]).get_table_names()
    finally:
        for engine in engines:
            engine.dispose()
