"""A real Airflow 3.1 → 2.10 rollback end to end, split into steps, through `tarmac runtime run`.

A real ``tarmac server`` (SQLite) and a real runtime side on this host run a Deployment
whose live deploy is on Airflow 3.1.8; the rollback request to its deploy on Airflow
2.10.5 starts the clock, and ``GET …/runtime`` is polled every 0.2 s until the runtime
side reports the new deploy running and healthy. Each step's time is the time between
the first reports of consecutive states (preparing, stopping, snapshotting, migrating,
starting, running). Then the same with the target environment not yet built (a fresh
environment cache: pip installs Airflow 2.10.5 from PyPI first).

    .venv/bin/python bench/runtime_rollback.py [--runs 1] [--cold] [--write docs/benchmarks.md]

Needs the environments of Airflow 3.1.8 and 2.10.5 (`tarmac runtime prepare 3.1-9` and
`12.11.0`). Takes 3-10 minutes here, most of it Airflow starting; --cold adds a build.
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.process import ADMIN_TOKEN, ServerProcess  # noqa: E402

HEADING = "## Runtime rollback: Airflow 3.1 → 2.10, end to end"
STEPS = ("preparing", "stopping", "snapshotting", "migrating", "starting", "running")
DAG = (
    "from datetime import datetime\n"
    "try:\n    from airflow.sdk import DAG\nexcept ImportError:\n    from airflow import DAG\n"
    "with DAG('bench', start_date=datetime(2024, 1, 1), schedule=None):\n    pass\n"
)


def bundle() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = DAG.encode()
        info = tarfile.TarInfo("bench.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def deploy(client: httpx.Client, deployment_id: str, runtime: str, tag: str) -> str:
    response = client.post(
        f"/api/v1/deployments/{deployment_id}/deploys",
        data={"type": "IMAGE_AND_DAG", "image": f"bench:{tag}", "runtime_version": runtime},
        files={"dags": ("dags.tar.gz", bundle(), "application/gzip")},
    )
    response.raise_for_status()
    return str(response.json()["id"])


def wait_state(
    client: httpx.Client, deployment_id: str, deploy_id: str, seen: dict[str, float], t0: float
) -> None:
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        status = client.get(f"/api/v1/deployments/{deployment_id}/runtime").json()
        state = status["state"]
        if status.get("rollout_deploy_id") == deploy_id or status["reached_deploy_id"] == deploy_id:
            seen.setdefault(state, time.monotonic() - t0)
        if state == "failed" and status.get("rollout_deploy_id") == deploy_id:
            raise RuntimeError(f"rollout failed: {status['error']}")
        if status["reached_deploy_id"] == deploy_id and state == "running":
            return
        time.sleep(0.2)
    raise RuntimeError("the rollout did not finish in 30 minutes")


def one_cycle(tmp: Path, env_cache: Path) -> dict[str, float]:
    server = ServerProcess(data_dir=tmp / "data", database_url=f"sqlite:///{tmp / 'tarmac.db'}")
    server.start()
    runtime = None
    try:
        client = server.client()
        created = client.post(
            "/api/v1/deployments",
            json={"name": "bench", "runtime_version": "12.11.0", "dag_deploy_mode": "dag_deploy"},
        )
        created.raise_for_status()
        deployment_id = created.json()["id"]
        client.patch(f"/api/v1/deployments/{deployment_id}", json={"rollback_enabled": True})
        d1 = deploy(client, deployment_id, "12.11.0", "2.10")
        d2 = deploy(client, deployment_id, "3.1-9", "3.1")
        log = (tmp / "runtime.log").open("ab")
        runtime = subprocess.Popen(
            [sys.executable, "-m", "tarmac", "runtime", "run", "--server", server.url,
             "--token", ADMIN_TOKEN, "--deployment", deployment_id, "--home", str(tmp / "home"),
             "--env-cache", str(env_cache), "--components", "scheduler,dag-processor,api-server"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ},
        )  # fmt: skip
        wait_state(client, deployment_id, d2, {}, time.monotonic())
        t0 = time.monotonic()
        response = client.post(
            f"/api/v1/deployments/{deployment_id}/deploys/{d1}/rollback",
            json={"description": "bench", "acknowledge": ["data_loss"]},
        )
        response.raise_for_status()
        seen = {"request": time.monotonic() - t0}
        wait_state(client, deployment_id, str(response.json()["id"]), seen, t0)
        return seen
    finally:
        if runtime is not None:
            runtime.terminate()
            runtime.wait(120)
        server.stop()


def split(seen: dict[str, float]) -> dict[str, float]:
    """Seconds spent in each state, from the first report of it to the next one's."""
    marks = [(name, seen[name]) for name in ("request", *STEPS) if name in seen]
    spans = {name: later - at for (name, at), (_n, later) in itertools.pairwise(marks)}
    spans["total"] = seen["running"]
    return spans


def markdown(warm: list[dict[str, float]], cold: list[dict[str, float]]) -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        HEADING,
        "",
        f"Measured {when} at commit {commit} by `bench/runtime_rollback.py` (2 cores, shared",
        "with other work: times vary). A rollback request from a deploy on Airflow 3.1.8 to",
        "one on 2.10.5, to the runtime side reporting the new deploy running and healthy",
        "(scheduler and DAG processor heartbeats after the start, DAGs parsed). Each row:",
        "seconds from the first report of that state to the next one's (median of the runs).",
        "",
        "| step | "
        + " | ".join(["environments prepared"] + (["target environment not built"] if cold else []))
        + " |",
        "|---|" + "---:|" * (2 if cold else 1),
    ]
    names = ["request", "preparing", "stopping", "snapshotting", "migrating", "starting", "total"]
    for name in names:
        cells = [_median(warm, name)] + ([_median(cold, name)] if cold else [])
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Runs: {len(warm)} prepared" + (f", {len(cold)} cold" if cold else "") + ". "
        "`migrating` is `airflow db downgrade` (run by 3.1.8) and, after it, `airflow dags "
        "reserialize` (run by 2.10.5); `starting` ends when Airflow's own heartbeats and a "
        "parse of the DAGs are seen. Goal: under 60 s end to end with environments prepared.",
        "",
    ]
    return "\n".join(lines)


def _median(runs: list[dict[str, float]], name: str) -> str:
    values = [split(run).get(name) for run in runs]
    present = [v for v in values if v is not None]
    return f"{statistics.median(present):.1f}" if present else "-"


def write_section(path: Path, report: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start = text.find(HEADING + "\n")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + report
    else:
        end = text.find("\n## ", start + len(HEADING))
        text = text[:start] + report + (text[end + 1 :] if end != -1 else "")
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--cold", action="store_true", help="also with the target not built")
    parser.add_argument("--env-cache", type=Path, default=Path.home() / ".cache/tarmac/runtimes")
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    warm, cold = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="tarmac-runtime-bench-") as tmp:
            warm.append(one_cycle(Path(tmp), args.env_cache))
    if args.cold:
        with tempfile.TemporaryDirectory(prefix="tarmac-runtime-bench-cold-") as tmp:
            cache = Path(tmp) / "envs"
            # Only Airflow 3.1.8 is there (copied): 2.10.5 must be built during the rollback.
            shutil.copytree(args.env_cache, cache, symlinks=True)
            _forget(cache, "2.10.5")
            cold.append(one_cycle(Path(tmp), cache))
    report = markdown(warm, cold)
    print(report)
    if args.write:
        write_section(args.write, report)


def _forget(cache: Path, airflow_version: str) -> None:
    from tarmac.local_runtime.environments import EnvironmentSpec

    (cache / "specs" / f"{EnvironmentSpec(airflow_version=airflow_version).key}.json").unlink()


if __name__ == "__main__":
    main()
