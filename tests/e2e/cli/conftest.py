"""A real server process for CLI tests, and two ways to run the CLI against it.

``tarmac_json`` runs ``python -m tarmac`` as a child process with stdin closed and
stdout and stderr apart, as a script in CI would; ``tarmac_cli`` uses Typer's runner
for the tests about what people read (and type at a prompt).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tarmac.cli.main import app
from tests.support.process import ServerProcess
from tests.support.server import ADMIN_TOKEN


@pytest.fixture
def cli_server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path}/t.db")
    process.start()
    try:
        yield process
    finally:
        process.stop()


def _env(server: ServerProcess, token: str) -> dict[str, str]:
    return {
        "TARMAC_SERVER": server.url,
        "TARMAC_TOKEN": token,
        "XDG_CONFIG_HOME": str(server.data_dir / "xdg"),
        "COLUMNS": "200",
    }


@dataclass
class JsonRun:
    code: int
    stdout: str
    stderr: str

    @property
    def document(self) -> Any:
        """stdout, which must be exactly one JSON document."""
        return json.loads(self.stdout)


def tarmac_json(server: ServerProcess, *args: str, token: str = ADMIN_TOKEN) -> JsonRun:
    """``tarmac ARGS -o json`` in a child process with stdin closed."""
    done = subprocess.run(
        [sys.executable, "-m", "tarmac", *args, "-o", "json"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **_env(server, token)},
    )
    return JsonRun(code=done.returncode, stdout=done.stdout, stderr=done.stderr)


def tarmac_table(
    server: ServerProcess, *args: str, columns: int, token: str = ADMIN_TOKEN
) -> JsonRun:
    """``tarmac ARGS`` for people, in a child process on a terminal ``columns`` wide."""
    done = subprocess.run(
        [sys.executable, "-m", "tarmac", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **_env(server, token), "COLUMNS": str(columns)},
    )
    return JsonRun(code=done.returncode, stdout=done.stdout, stderr=done.stderr)


def tarmac_cli(
    server: ServerProcess, *args: str, input: str | None = None, token: str = ADMIN_TOKEN
) -> Any:
    """``tarmac ARGS`` as a person runs it; ``output`` holds stdout and stderr."""
    return CliRunner().invoke(app, list(args), env=_env(server, token), input=input)


def two_deploys_and_a_downgrade(server: ServerProcess, name: str = "Sales ETL") -> str:
    """A Deployment with rollbacks on: #1 on 12.4.0, #2 on 3.1-2 (so #1 is a downgrade)."""
    with server.client() as api:
        created = api.post(
            "/api/v1/deployments",
            json={"name": name, "runtime_version": "12.4.0", "dag_deploy_mode": "image"},
        )
        assert created.status_code == 201, created.text
        deployment_id: str = created.json()["id"]
        for image, runtime in (("repo/etl:1", "12.4.0"), ("repo/etl:2", "3.1-2")):
            deployed = api.post(
                f"/api/v1/deployments/{deployment_id}/deploys",
                data={"type": "IMAGE_ONLY", "image": image, "runtime_version": runtime},
            )
            assert deployed.status_code == 201, deployed.text
        enabled = api.patch(f"/api/v1/deployments/{deployment_id}", json={"rollback_enabled": True})
        assert enabled.status_code == 200, enabled.text
    return deployment_id


def history_seqs(server: ServerProcess, deployment_id: str) -> list[int]:
    with server.client() as api:
        page = api.get(f"/api/v1/deployments/{deployment_id}/deploys").json()
    return [d["seq"] for d in page["items"]]
