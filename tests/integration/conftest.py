from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import Api, running_tarmac


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[Api]:
    """tarmac with every installation flag on, acting as the bootstrap admin."""
    with running_tarmac(data_dir=tmp_path / "data", database_url=database_url) as admin:
        yield admin
