"""``tarmac agent`` in a subprocess, and a Deployment with an agent token, for e2e tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.live_state import bundle_files, folder_files
from tests.support.process import ServerProcess


class AgentProcess:
    """One agent keeping ``dags_folder`` on a Deployment's live DAGs."""

    def __init__(
        self,
        *,
        server_url: str,
        token: str,
        deployment_id: str,
        root: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.dags_folder = root / "dags"
        self.log_path = root / "agent.log"
        self.command = [
            sys.executable,
            "-m",
            "tarmac",
            "agent",
            "--server",
            server_url,
            "--deployment",
            deployment_id,
            "--dags-folder",
            str(self.dags_folder),
            "--keep",
            "3",
            "--wait-seconds",
            "20",
        ]
        self.env = {**os.environ, "TARMAC_TOKEN": token, **(env or {})}
        root.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def run_once(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.command, "--once"], env=self.env, capture_output=True, text=True, timeout=60
        )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def files(self) -> dict[str, bytes]:
        """What the agent's folder holds now; {} while there is none or its tree was just pruned."""
        try:
            return folder_files(self.dags_folder) if self.dags_folder.is_dir() else {}
        except FileNotFoundError:  # the agent pruned the tree we were reading; poll again
            return {}

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, as Kubernetes sends; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def wait_until(condition: Callable[[], bool], *, timeout: float, interval: float = 0.01) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; returns the last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def shows(agents: list[AgentProcess], bundle: bytes) -> Callable[[], bool]:
    expected = bundle_files(bundle)
    return lambda: all(agent.files() == expected for agent in agents)


def agent_token(server: ServerProcess, deployment_id: str) -> str:
    """A read-only token scoped to one Deployment, owned by the admin."""
    with server.client() as client:
        me = client.get("/api/v1/users/me").json()
        response = client.post(
            f"/api/v1/users/{me['id']}/tokens",
            json={"name": "agent", "deployment_id": deployment_id},
        )
        assert response.status_code == 201, response.text
        return str(response.json()["token"])


def deploy_dags(client: httpx.Client, deployment_id: str, bundle: bytes) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/deployments/{deployment_id}/deploys",
        data={"type": "DAG_ONLY", "description": "e2e"},
        files={"dags": ("dags.tar.gz", bundle, "application/gzip")},
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]
