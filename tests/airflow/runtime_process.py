"""``tarmac runtime run`` in a subprocess, and what a test asks of the Airflow it runs."""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from tests.support.process import ADMIN_TOKEN, ServerProcess

# Built once per machine by `tarmac runtime prepare` (the tests reuse what CI built before).
ENV_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tarmac" / "runtimes"


class RuntimeProcess:
    def __init__(
        self,
        server: ServerProcess,
        *,
        deployment_id: str,
        home: Path,
        components: str,
        env_cache: Path = ENV_CACHE,
        database_url: str | None = None,
    ) -> None:
        self.server = server
        # None: SQLite in the home (the default); else `--metadata-db-url`, as Airflow takes it.
        self.database_url = database_url
        self.env_cache = env_cache
        self.deployment_id = deployment_id
        self.home = home
        self.components = components
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = home.parent / f"{home.name}-runtime.log"

    def start(self, *, env: dict[str, str] | None = None) -> None:
        command = [
            sys.executable,
            "-m",
            "tarmac",
            "runtime",
            "run",
            "--server",
            self.server.url,
            "--token",
            ADMIN_TOKEN,
            "--deployment",
            self.deployment_id,
            "--home",
            str(self.home),
            "--env-cache",
            str(self.env_cache),
            "--components",
            self.components,
            "--health-timeout",
            "240",
        ]
        if self.database_url:
            command += ["--metadata-db-url", self.database_url]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT
        )

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def status(self) -> dict[str, Any]:
        with self.server.client() as client:
            return client.get(f"/api/v1/deployments/{self.deployment_id}/runtime").json()  # type: ignore[no-any-return]

    def wait_running(self, deploy_id: str, *, airflow: str, timeout: float = 600) -> dict[str, Any]:
        """Until the runtime side reports ``deploy_id`` reached, running and healthy."""

        def reached() -> bool:
            status = self.status()
            if status["state"] == "failed" and status["rollout_deploy_id"] == deploy_id:
                raise AssertionError(f"rollout failed: {status['error']}\n{self.log()}")
            return (
                status["reached_deploy_id"] == deploy_id
                and status["state"] == "running"
                and status["airflow_version"] == airflow
                and bool(status["components"])
                and all(c["healthy"] for c in status["components"])
            )

        assert wait_for(reached, timeout=timeout, interval=1), (self.status(), self.log())
        return self.status()

    def component_info(self, name: str) -> dict[str, Any]:
        """What the running component wrote about itself from inside its own process."""
        return json.loads((self.home / "run" / f"{name}.info.json").read_text())  # type: ignore[no-any-return]

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        if self.database_url is None:
            with sqlite3.connect(self.home / "airflow" / "airflow.db", timeout=30) as db:
                return db.execute(sql).fetchall()
        url = make_url(self.database_url).set(drivername="postgresql+psycopg")
        engine = create_engine(url)
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(text(sql))]
        finally:
            engine.dispose()


def wait_for(condition: Callable[[], bool], *, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except (httpx.HTTPError, sqlite3.Error, SQLAlchemyError, OSError, KeyError):
            pass
        time.sleep(interval)
    return condition()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


CLI_LOCK_ATTEMPTS = 5


def airflow_cli(runtime: RuntimeProcess, airflow_version: str, *args: str) -> str:
    """Run Airflow's own CLI against the runtime's home, as its components see it."""
    from tarmac.local_runtime.airflow_settings import AirflowSettings
    from tarmac.local_runtime.environments import EnvironmentCache
    from tarmac.local_runtime.layout import RuntimeHome

    home = RuntimeHome(runtime.home)
    settings = AirflowSettings(
        home=home,
        database_url=runtime.database_url or home.sqlite_url(),
        web_port=home.ports()["web"],
    )
    environment = EnvironmentCache(ENV_CACHE).find(settings.environment_spec(airflow_version))
    assert environment is not None, f"Airflow {airflow_version} is not prepared"
    env = {"PATH": os.environ["PATH"], **settings.environment(airflow_version, deployment_env={})}
    # On a SQLite metadata database the running scheduler holds the write lock now and
    # then, and Airflow's CLI gives up at once ("database is locked"; its transaction is
    # rolled back): try again, as an operator would.
    for _attempt in range(CLI_LOCK_ATTEMPTS):
        result = subprocess.run(
            environment.airflow_command(*args), env=env, capture_output=True, text=True, timeout=300
        )
        if result.returncode == 0 or "database is locked" not in result.stderr:
            break
        time.sleep(2)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def process_running(pid: int) -> bool:
    """Whether ``pid`` is a process that still runs (a zombie nobody reaped does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@functools.cache
def migration_head(airflow_version: str) -> str:
    """The newest metadata revision of ``airflow_version``: the one its own check accepts.

    Read from the prepared environment's migration scripts (``revision`` and
    ``down_revision`` of each), without importing Airflow.
    """
    from tarmac.local_runtime.environments import EnvironmentCache, EnvironmentSpec

    environment = EnvironmentCache(ENV_CACHE).find(EnvironmentSpec(airflow_version=airflow_version))
    assert environment is not None, f"Airflow {airflow_version} is not prepared"
    scripts = environment.path.glob("lib/python*/site-packages/airflow/migrations/versions/*.py")
    revisions, parents = set(), set()
    for script in scripts:
        source = script.read_text()
        revision = re.search(r"^revision\s*=\s*[\"']([0-9a-f]+)[\"']", source, re.M)
        if revision is None:
            continue
        revisions.add(revision[1])
        down = re.search(r"^down_revision\s*=\s*(.+)$", source, re.M)
        parents.update(re.findall(r"[\"']([0-9a-f]+)[\"']", down[1]) if down else [])
    heads = revisions - parents
    assert len(heads) == 1, (airflow_version, heads)
    return heads.pop()
