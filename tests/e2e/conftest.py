from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.process import ServerProcess


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """A real ``tarmac server`` process with every installation flag on."""
    process = ServerProcess(data_dir=tmp_path / "data", database_url=database_url)
    process.start()
    try:
        yield process
    finally:
        process.stop()
