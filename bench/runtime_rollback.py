"""A real Airflow 3.1 → 2.10 rollback end to end, split into steps, through `tarmac runtime run`.

A real ``tarmac server`` (SQLite) and a real runtime side on this host run a Deployment
whose live deploy is on Airflow 3.1.8; the rollback request to its deploy on Airflow
2.10.5 starts the clock, and ``GET …/runtime`` is polled every 0.1 s until the runtime
side reports the new deploy running and healthy, which stops it. The time between is
split at the moments the runtime side logged starting each step (its log has
millisecond timestamps; a poll could miss a step shorter than its interval), so the
rows add up to the total: every second is accounted for. Then the same with the target
environment not yet built (a cache holding only Airflow 3.1.8: pip installs 2.10.5 from
PyPI during the rollback).

    .venv/bin/python bench/runtime_rollback.py [--runs 1] [--cold] [--write docs/benchmarks.md]

Needs the environments of Airflow 3.1.8 and 2.10.5 (`tarmac runtime prepare 3.1-9` and
`12.11.0`). Takes 3-10 minutes here, most of it Airflow starting; --cold adds a build.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
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
# (row, what it covers, how the runtime side's log message that ends it starts)
STEPS = (
    ("request", "the rollback request, answered by the server", "answered"),
    ("notice", "the runtime side sees the new live deploy (long poll)", "preparing Airflow"),
    ("prepare", "target environment found (or built), bundle ready", "stopping the"),
    ("stop", "SIGTERM to the 3.1.8 components until all exited", "snapshotting the"),
    ("snapshot", "SQLite online backup, recorded on the server; repair check", "airflow db down"),
    ("downgrade", "`airflow db downgrade --to-version 2.10.5`, run by 3.1.8", "after downgrade"),
    ("after downgrade", "serialized DAGs handled, DAG folder switched", "starting Airflow"),
    ("start", "2.10.5 components spawned", "waiting for Airflow"),
    ("healthy", "until heartbeats after the start and a parse of the DAGs", "running"),
)
AFTER_DOWNGRADE = ("airflow dags reserialize", "the downgrade left no serialized DAGs")
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


def wait_running(
    client: httpx.Client, deployment_id: str, deploy_id: str, *, timeout: float = 1800
) -> None:
    """Poll every 0.1 s until the runtime side reports ``deploy_id`` running and healthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/api/v1/deployments/{deployment_id}/runtime").json()
        if status["state"] == "failed" and status.get("rollout_deploy_id") == deploy_id:
            raise RuntimeError(f"rollout failed: {status['error']}")
        if status["reached_deploy_id"] == deploy_id and status["state"] == "running":
            return
        time.sleep(0.1)
    raise RuntimeError(f"the rollout did not finish in {timeout:.0f} s")


def logged_marks(log_path: Path, deploy_id: str) -> dict[str, float]:
    """When the runtime side first logged each step's opening message (epoch seconds)."""
    marks: dict[str, float] = {}
    needle = f"deploy {deploy_id}: "
    for line in log_path.read_text(errors="replace").splitlines():
        if needle not in line:
            continue
        try:
            moment = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        except ValueError:
            continue
        message = line.split(needle, 1)[1]
        if message.startswith(AFTER_DOWNGRADE):
            marks.setdefault("after downgrade", moment)
        for _row, _what, end in STEPS:
            if message.startswith(end):
                marks.setdefault(end, moment)
    return marks


def one_cycle(tmp: Path, env_cache: Path) -> dict[str, float]:
    """One rollback: the seconds of each row of STEPS, the total and the load average."""
    server = ServerProcess(data_dir=tmp / "data", database_url=f"sqlite:///{tmp / 'tarmac.db'}")
    server.start()
    runtime = None
    log_path = tmp / "runtime.log"
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
        log = log_path.open("ab")
        runtime = subprocess.Popen(
            [sys.executable, "-m", "tarmac", "runtime", "run", "--server", server.url,
             "--token", ADMIN_TOKEN, "--deployment", deployment_id, "--home", str(tmp / "home"),
             "--env-cache", str(env_cache), "--components", "scheduler,dag-processor,api-server"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ},
        )  # fmt: skip
        wait_running(client, deployment_id, d2)
        load_before = os.getloadavg()[0]
        t0 = time.time()
        response = client.post(
            f"/api/v1/deployments/{deployment_id}/deploys/{d1}/rollback",
            json={"description": "bench", "acknowledge": ["data_loss"]},
        )
        response.raise_for_status()
        answered = time.time()
        rollback_id = str(response.json()["id"])
        wait_running(client, deployment_id, rollback_id)
        seen_running = time.time()
        times = {
            "start": t0,
            "answered": answered,
            **logged_marks(log_path, rollback_id),
            "running": seen_running,
        }
        ends = ["start"] + [end for _row, _what, end in STEPS]
        missing = [name for name in ends if name not in times]
        if missing:
            raise RuntimeError(f"the runtime side's log lacks {missing}; see {log_path}")
        rows = {
            row: times[end] - times[begin]
            for (row, _what, _end), (begin, end) in zip(
                STEPS, itertools.pairwise(ends), strict=True
            )
        }
        return {
            **rows,
            "total": seen_running - t0,
            "load_before": load_before,
            "load_after": os.getloadavg()[0],
        }
    finally:
        if runtime is not None:
            runtime.terminate()
            runtime.wait(120)
        server.stop()


def markdown(warm: list[dict[str, float]], cold: list[dict[str, float]]) -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    runs = [(f"prepared, run {i}", run) for i, run in enumerate(warm, start=1)]
    runs += [("target env not built", run) for run in cold]
    lines = [
        HEADING,
        "",
        f"Measured {when} at commit {commit} by `bench/runtime_rollback.py` on this machine",
        f"({os.cpu_count()} cores, shared with other work). From the rollback request",
        "(3.1.8 → 2.10.5) to the runtime side reporting the new deploy running and healthy,",
        "in seconds. Each row ends when the runtime side logged the start of the next step,",
        "so each column adds up to its total (up to rounding): every second is accounted for.",
        "",
        "| step | what it covers | " + " | ".join(name for name, _run in runs) + " |",
        "|---|---|" + "---:|" * len(runs),
    ]
    for row, what, _end in STEPS:
        lines.append(f"| {row} | {what} | " + " | ".join(f"{r[row]:.1f}" for _n, r in runs) + " |")
    lines.append("| **total** | | " + " | ".join(f"**{r['total']:.1f}**" for _n, r in runs) + " |")
    lines.append(
        "| load average | 1 min, before → after | "
        + " | ".join(f"{r['load_before']:.1f} → {r['load_after']:.1f}" for _n, r in runs)
        + " |"
    )
    worst = max((run["total"] for run in warm), default=None)
    verdict = (
        "met in every prepared run"
        if worst is not None and worst < 60
        else f"not met (slowest prepared run: {worst or 0:.1f} s)"
    )
    lines += [
        "",
        f"Goal, under 60 s end to end with environments prepared: {verdict}. "
        "The runtime side ran scheduler, DAG processor and API server on 3.1.8; on 2.10.5 "
        "with SQLite only the scheduler runs (it parses the DAGs itself). `downgrade` includes "
        "Airflow 3.1.8's own start-up: its CLI imports for seconds before it migrates anything. "
        "Not built: the runtime side builds Airflow 2.10.5 from PyPI (pip) before it stops "
        "anything.",
        "",
    ]
    return "\n".join(lines)


def write_section(path: Path, report: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start = text.find(HEADING + "\n")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + report
    else:
        end = text.find("\n## ", start + len(HEADING))
        rest = text[end + 1 :] if end != -1 else ""
        text = text[:start] + report.rstrip("\n") + ("\n\n" + rest if rest else "\n")
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
            print(warm[-1], flush=True)
    if args.cold:
        with tempfile.TemporaryDirectory(prefix="tarmac-runtime-bench-cold-") as tmp:
            cache = Path(tmp) / "envs"
            _cache_with_only(cache, args.env_cache, "3.1.8")
            cold.append(one_cycle(Path(tmp), cache))
            print(cold[-1], flush=True)
    report = markdown(warm, cold)
    print(report)
    if args.write:
        write_section(args.write, report)


def _cache_with_only(cache: Path, source: Path, airflow_version: str) -> None:
    """A cache that finds the prepared ``airflow_version`` (linked, not copied), nothing else.

    Everything else (Airflow 2.10.5 here) is built from PyPI during the rollback, into
    this temporary cache, and deleted with it.
    """
    from tarmac.local_runtime.environments import EnvironmentCache, EnvironmentSpec

    spec = EnvironmentSpec(airflow_version=airflow_version)
    prepared = EnvironmentCache(source).find(spec)
    if prepared is None:
        raise SystemExit(f"Airflow {airflow_version} is not prepared: tarmac runtime prepare")
    (cache / "envs").mkdir(parents=True)
    (cache / "envs" / prepared.digest).symlink_to(prepared.path.resolve())
    (cache / "specs").mkdir()
    (cache / "specs" / f"{spec.key}.json").write_text(json.dumps({"digest": prepared.digest}))


if __name__ == "__main__":
    main()
