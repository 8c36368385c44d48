"""Server time of every web UI page with 10,000 deploys in the history, next to the JSON API.

Seeds one Deployment with 10,000 deploys (runtimes from 9.1.0 to 12.4.0, every 25th a
rollback, spread over 120 days so some are too old to be targets), then times each page
inside the server (from the ASGI call to the last body byte: no network, no client):

    .venv/bin/python bench/ui_render.py [--deploys 10000] [--runs 200] [--database-url URL]
        [--write docs/benchmarks.md]

The issue's bar is under 200 ms server time per page.
"""

from __future__ import annotations

import argparse
import io
import platform
import re
import statistics
import tarfile
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import insert

from tarmac.api.app import create_app
from tarmac.deployments.models import Deployment
from tarmac.deploys.models import Deploy
from tarmac.settings import load_settings

TOKEN = "tmc_bench_admin_token"
PASSWORD = "bench password"
VALUES = """\
astronomer: {houston: {config: {deployments: {enableUpdateDeploymentImageEndpoint: true}}}}
global: {deployRollbackEnabled: true, dagOnlyDeployment: {enabled: true}}
houston: {cleanupDeployRevisions: {enabled: false, olderThan: 90}}
"""
RUNTIMES = [("9.1.0", "2.7.1"), ("11.3.0", "2.9.3"), ("12.4.0", "2.10.4")]
SECTION = "## UI render"
"""Heading prefix of this benchmark's sections (one per database) in docs/benchmarks.md."""


class Timed:
    """ASGI wrapper recording how long the app takes to answer each HTTP request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()

        async def timed_send(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.last = time.perf_counter() - start

        await self.app(scope, receive, timed_send)


def bundle(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def seed(client: TestClient, installation: Any, deploys: int) -> dict[str, Any]:
    """A Deployment with ``deploys`` deploys: two real ones for bundles, the rest inserted."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    dep = client.post(
        "/api/v1/deployments",
        headers=auth,
        json={
            "name": "bench",
            "runtime_version": "9.1.0",
            "dag_deploy_mode": "dag_deploy",
            "resources": {"scheduler": {"replicas": 2}},
            "env_vars": [{"key": f"VAR_{i}", "value": str(i)} for i in range(20)],
        },
    ).json()
    shas = []
    for n in range(2):
        files = {f"dags/dag_{i}.py": f"# v{n} {i}\n" * (i + 1) for i in range(50 + n * 10)}
        response = client.post(
            f"/api/v1/deployments/{dep['id']}/deploys",
            headers=auth,
            data={"type": "DAG_ONLY"},
            files={"dags": ("d.tar.gz", bundle(files), "application/gzip")},
        )
        shas.append(response.json()["bundle_sha256"])
    start = datetime.now(UTC) - timedelta(days=120)
    step = timedelta(days=120) / deploys
    with installation.database.session(write=True) as db:
        deployment = db.get(Deployment, dep["id"])
        assert deployment is not None
        ids: list[str] = []
        rows = []
        for seq in range(3, deploys + 1):
            runtime, airflow = RUNTIMES[min(2, seq * 3 // (deploys + 1))]
            deploy_id = f"{seq:032x}"
            rows.append(
                {
                    "id": deploy_id,
                    "deployment_id": dep["id"],
                    "seq": seq,
                    "type": "IMAGE_AND_DAG",
                    "status": "DEPLOYED",
                    "description": f"Deploy number {seq} <with> some text",
                    "image": f"registry.example.com/bench:{seq}",
                    "runtime_version": runtime,
                    "airflow_version": airflow,
                    "dag_deploy_enabled": True,
                    "bundle_sha256": shas[seq % 2],
                    "rollback_from_id": ids[-7] if seq % 25 == 0 and len(ids) > 7 else None,
                    "created_by": "admin",
                    "pinned": False,
                    "created_at": start + step * seq,
                    "finished_at": start + step * seq,
                }
            )
            ids.append(deploy_id)
        db.execute(insert(Deploy), rows)
        deployment.last_deploy_seq = deploys
        deployment.rollback_enabled = True
        deployment.current_deploy_id = ids[-1]
        deployment.runtime_version, deployment.airflow_version = RUNTIMES[-1]
        db.commit()
    user = client.post(
        "/api/v1/users",
        headers=auth,
        json={"username": "bench", "system_role": "SYSTEM_ADMIN", "password": PASSWORD},
    ).json()
    assert user["username"] == "bench"
    return {"deployment_id": dep["id"], "ids": ids}


def login(client: TestClient) -> None:
    page = client.get("/ui/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    response = client.post(
        "/ui/login",
        data={"csrf_token": token.group(1), "username": "bench", "password": PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def measure(timed: Timed, call: Callable[[], Any], runs: int) -> tuple[float, float]:
    """Median and p99 server time in milliseconds, after a warm-up."""
    for _ in range(5):
        call()
    samples = []
    for _ in range(runs):
        response = call()
        assert response.status_code in (200, 201), response.text[:500]
        samples.append(timed.last * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploys", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--write", type=Path, default=None, help="append the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        (data_dir / "values.yaml").write_text(VALUES)
        settings = load_settings(
            data_dir=data_dir,
            database_url=args.database_url,
            values_file=data_dir / "values.yaml",
            bootstrap_token=TOKEN,
            secret_key="bench",
        )
        app = create_app(settings)
        timed = Timed(app)
        with TestClient(timed) as client:
            seeded = seed(client, app.state.installation, args.deploys)
            results = run(client, timed, seeded, args.runs)
    database = "PostgreSQL" if args.database_url else "SQLite"
    report = render_report(results, deploys=args.deploys, runs=args.runs, database=database)
    print(report)
    if args.write:
        write_section(args.write, report)


def run(
    client: TestClient, timed: Timed, seeded: dict[str, Any], runs: int
) -> list[tuple[str, tuple[float, float], tuple[float, float]]]:
    dep = seeded["deployment_id"]
    target = seeded["ids"][-10]  # recent, same runtime: a plain rollback
    auth = {"Authorization": f"Bearer {TOKEN}"}
    cursor = None
    for _ in range(50):  # follow the API's cursor halfway down the history
        page = client.get(
            f"/api/v1/deployments/{dep}/deploys",
            headers=auth,
            params={"limit": 100, **({"cursor": cursor} if cursor else {})},
        )
        cursor = page.json()["next_cursor"]
    login(client)
    api_history = f"/api/v1/deployments/{dep}/deploys"
    ui_history = f"/ui/deployments/{dep}/history"
    pages = [
        (
            "Deploy History, first page",
            lambda: client.get(ui_history),
            lambda: client.get(api_history, headers=auth),
        ),
        (
            "Deploy History, page ~250 (keyset cursor)",
            lambda: client.get(ui_history, params={"cursor": cursor}),
            lambda: client.get(api_history, headers=auth, params={"cursor": cursor}),
        ),
        (
            "Rollback dialog (dry-run plan)",
            lambda: client.get(f"/ui/deployments/{dep}/deploys/{target}/rollback"),
            lambda: client.post(
                f"{api_history}/{target}/rollback", headers=auth, json={"dry_run": True}
            ),
        ),
        (
            "Deployments list",
            lambda: client.get("/ui/deployments"),
            lambda: client.get("/api/v1/deployments", headers=auth),
        ),
        (
            "Settings",
            lambda: client.get(f"/ui/deployments/{dep}/settings"),
            lambda: client.get(f"/api/v1/deployments/{dep}", headers=auth),
        ),
    ]
    return [(name, measure(timed, ui, runs), measure(timed, api, runs)) for name, ui, api in pages]


def render_report(
    results: list[tuple[str, tuple[float, float], tuple[float, float]]],
    *,
    deploys: int,
    runs: int,
    database: str,
) -> str:
    lines = [
        f"{SECTION} ({database})",
        "",
        f"`bench/ui_render.py`: server time per request (ASGI call to last body byte), "
        f"{runs} runs after 5 warm-up runs, one Deployment with {deploys:,} deploys, "
        f"{database}, Python {platform.python_version()} on {platform.machine()}, "
        f"{datetime.now(UTC):%Y-%m-%d}. The JSON API column is the same data from the "
        "API (history page of 20, dry-run POST, list, one Deployment). Bar: under 200 ms.",
        "",
        "| page | UI median ms | UI p99 ms | JSON API median ms | JSON API p99 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, (ui_median, ui_p99), (api_median, api_p99) in results:
        lines.append(
            f"| {name} | {ui_median:.1f} | {ui_p99:.1f} | {api_median:.1f} | {api_p99:.1f} |"
        )
    return "\n".join(lines) + "\n"


def write_section(path: Path, report: str) -> None:
    """Replace this benchmark's own section, or append it; other sections stay as they are."""
    heading = report.splitlines()[0]
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start = text.find(heading + "\n")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + report
    else:
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + report + (text[end + 1 :] if end != -1 else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


if __name__ == "__main__":
    main()
