"""1,000 idle long polls hold no thread and no database connection, and all wake on a deploy.

Counts, not timings: with 1,000 agents waiting, the server has no more threads than its
fixed threadpool (40) and at most one checked-out database connection (the watcher's
shared re-check), so neither grows with the number of agents.
"""

from __future__ import annotations

import asyncio
import resource
import threading
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tarmac.deploys.live_notifications import LiveWatcher
from tests.e2e.agent.serving import make_app, serving
from tests.support.bundles import dag_file, make_bundle
from tests.support.server import ADMIN_TOKEN

WAITERS = 1_000
THREADPOOL = 40
"""anyio's default thread limit, which FastAPI's sync dependencies and run_in_threadpool share."""


def _raise_open_files_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed <= hard or (soft < needed and hard == resource.RLIM_INFINITY):
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    elif soft < needed:
        pytest.skip(f"needs {needed} open files, the hard limit is {hard}")


async def _long_poll(url: str, *, path: str, token: str, etag: str) -> tuple[int, str]:
    """One agent's raw HTTP/1.1 long poll; returns the status and the ETag."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    request = (
        f"GET {path}?wait=60 HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {token}\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"
    )
    writer.write(request.encode())
    await writer.drain()
    response = (await reader.read()).decode()
    writer.close()
    head = response.split("\r\n\r\n", 1)[0].split("\r\n")
    headers = dict(line.split(": ", 1) for line in head[1:])
    return int(head[0].split()[1]), headers.get("etag", "")


async def _until(condition: object, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.05)


def test_a_thousand_idle_agents_hold_no_thread_and_no_connection(
    database_url: str, tmp_path: Path
) -> None:
    _raise_open_files_limit(4 * WAITERS)
    app = make_app(data_dir=tmp_path / "data", database_url=database_url)
    with serving(app) as url, httpx.Client(base_url=url, timeout=60) as admin:
        # The server's own threads (uvicorn, background jobs), before any request.
        threads_before = threading.active_count()
        admin.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        dep = admin.post(
            "/api/v1/deployments",
            json={"name": "busy", "runtime_version": "12.4.0", "dag_deploy_mode": "dag_deploy"},
        ).json()

        def deploy(marker: str) -> str:
            bundle = make_bundle({"etl.py": dag_file("etl", marker=marker)})
            response = admin.post(
                f"/api/v1/deployments/{dep['id']}/deploys",
                data={"type": "DAG_ONLY"},
                files={"dags": ("d.tar.gz", bundle, "application/gzip")},
            )
            assert response.status_code == 201, response.text
            return f'"{response.json()["id"]}"'

        v1 = deploy("v1")
        me = admin.get("/api/v1/users/me").json()
        token = admin.post(
            f"/api/v1/users/{me['id']}/tokens", json={"name": "a", "deployment_id": dep["id"]}
        ).json()["token"]
        path = f"/api/v1/deployments/{dep['id']}/dags/current"
        watcher: LiveWatcher = app.state.live_watcher
        pool = app.state.installation.database.engine.pool

        async def scenario() -> None:
            waiters = [
                asyncio.create_task(_long_poll(url, path=path, token=token, etag=v1))
                for _ in range(WAITERS)
            ]
            await _until(lambda: watcher.sleeping == WAITERS, timeout=120)
            checked_out = []
            for _ in range(25):  # across two periodic re-checks of the live deploy
                checked_out.append(pool.checkedout())
                await asyncio.sleep(0.1)
            assert watcher.sleeping == WAITERS
            # Requests borrow threadpool threads only to authenticate and read, never to wait.
            assert threading.active_count() <= threads_before + THREADPOOL
            # At most the watcher's one re-check query, shared by every waiter.
            assert max(checked_out) <= 1

            v2 = await asyncio.to_thread(deploy, "v2")
            async with asyncio.timeout(120):
                answers = await asyncio.gather(*waiters)
            assert set(answers) == {(200, v2)}
            assert watcher.waiting == 0

        asyncio.run(scenario())
