"""A real tarmac server process, for tests that need separate clients, crashes or agents."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.server import ADMIN_TOKEN, ALL_FLAGS_ON


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``tarmac server`` in a subprocess; start, kill -9, and start again on the same data."""

    def __init__(
        self,
        *,
        data_dir: Path,
        database_url: str,
        values: str | None = ALL_FLAGS_ON,
        env: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = env or {}
        self.values_file: Path | None = None
        data_dir.mkdir(parents=True, exist_ok=True)
        if values is not None:
            self.values_file = data_dir / "values.yaml"
            self.values_file.write_text(values)
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "server.log"

    def start(self, *, failpoints: str = "", timeout: float = 180.0) -> None:
        """Start the server and wait until /healthz answers (``timeout``: a generous bound
        for a 2-core machine shared with other test runs, not a measurement)."""
        env = {
            **os.environ,
            "TARMAC_DATABASE_URL": self.database_url,
            "TARMAC_BOOTSTRAP_TOKEN": ADMIN_TOKEN,
            "TARMAC_SECRET_KEY": "test-secret-key",
            "TARMAC_FAILPOINTS": failpoints,
            # Concurrency tests queue many deploys on one Deployment on a 2-core machine
            # that runs other tests too: wait for the lock longer than the 10 s default.
            "TARMAC_DEPLOY_LOCK_TIMEOUT_SECONDS": "60",
            # The concurrency tests send 20 deploys at once as one user, on purpose; the
            # upload bounds (4 per user by default) have tests of their own that set them.
            "TARMAC_MAX_UPLOADS_PER_USER": "64",
            "TARMAC_MAX_UPLOADS_IN_FLIGHT": "64",
            **self.extra_env,
        }
        command = [
            sys.executable,
            "-m",
            "tarmac",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--log-level",
            "warning",
        ]
        if self.values_file is not None:
            command += ["--values", str(self.values_file)]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()  # never leave a server behind that a later test would trip over
        raise RuntimeError(f"server did not start: {self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """kill -9, as a crash would."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def wait_exit(self, timeout: float = 120.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self, token: str = ADMIN_TOKEN, **kwargs: Any) -> httpx.Client:
        kwargs.setdefault("timeout", 60)
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, **kwargs
        )
