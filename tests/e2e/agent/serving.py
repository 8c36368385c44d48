"""The real app under a real uvicorn, in a thread of the test process (to look inside it)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from tarmac.api.app import create_app
from tarmac.settings import load_settings
from tests.support.process import free_port
from tests.support.server import ADMIN_TOKEN, ALL_FLAGS_ON


def make_app(*, data_dir: Path, database_url: str) -> FastAPI:
    data_dir.mkdir(parents=True, exist_ok=True)
    values = data_dir / "values.yaml"
    values.write_text(ALL_FLAGS_ON)
    settings = load_settings(
        data_dir=data_dir,
        database_url=database_url,
        values_file=values,
        bootstrap_token=ADMIN_TOKEN,
        secret_key="test-secret-key",
    )
    return create_app(settings)


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` on a free port until the block ends; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", backlog=4096)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        # uvicorn lets open requests finish first: answer the long polls now.
        app.state.live_watcher.release_all_threadsafe()
        server.should_exit = True
        thread.join(timeout=30)
