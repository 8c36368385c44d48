"""DORA stats and the Prometheus scrape over long histories: how long the figures take.

Seeds one Deployment per size (1,000 and 100,000 deploys by default) into a SQLite
database migrated to head, spread evenly over the last 90 days, every 10th deploy a
rollback and every 3rd with a Git commit time, then times (median / max of --repeat
fresh sessions): ``deployment_stats`` for 7, 30 and 90 days, and one Prometheus scrape of
the DORA collector (every Deployment, 30 days; uncached, as on the first scrape).

    .venv/bin/python bench/dora_stats.py [--sizes 1000 100000] [--repeat 5]
        [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path

from sqlalchemy import Engine, insert, update
from sqlalchemy.orm import Session

from tarmac.access.principal import Principal
from tarmac.access.roles import SYSTEM_ROLE_PERMISSIONS, SystemRole
from tarmac.db.base import new_id, utcnow
from tarmac.db.engine import make_engine
from tarmac.db.migrate import upgrade_to_head
from tarmac.deployments.models import Deployment
from tarmac.deploys.models import Deploy, DeployGit
from tarmac.insight.prometheus import DoraCollector
from tarmac.insight.stats import deployment_stats

HEADING = "## DORA stats"
BATCH = 10_000
ADMIN = Principal(
    user_id="bench",
    username="bench",
    system_role=SystemRole.SYSTEM_ADMIN.value,
    system_permissions=SYSTEM_ROLE_PERMISSIONS[SystemRole.SYSTEM_ADMIN],
)


def seed(engine: Engine, size: int) -> str:
    deployment_id = new_id()
    now = utcnow()
    step = timedelta(days=90) / size
    ids = [new_id() for _ in range(size)]
    with engine.begin() as conn:
        conn.execute(
            insert(Deployment).values(
                id=deployment_id,
                name=f"dora-{size}",
                release_name=f"dora-{size}-1234",
                runtime_version="12.4.0",
                airflow_version="2.10.4",
                executor="CeleryExecutor",
                dag_deploy_mode="dag_deploy",
                rollback_enabled=True,
                resources={},
                last_deploy_seq=size,
                created_at=now - timedelta(days=91),
                updated_at=now,
            )
        )
        for first in range(0, size, BATCH):
            rows = []
            gits = []
            for i in range(first, min(first + BATCH, size)):
                live = now - timedelta(days=90) + step * (i + 1)
                rows.append(
                    {
                        "id": ids[i],
                        "deployment_id": deployment_id,
                        "seq": i + 1,
                        "type": "DAG_ONLY",
                        "status": "DEPLOYED",
                        "description": "bench",
                        "image": None,
                        "runtime_version": "12.4.0",
                        "airflow_version": "2.10.4",
                        "dag_deploy_enabled": True,
                        "bundle_sha256": None,
                        "rollback_from_id": ids[i - 2] if i % 10 == 9 else None,
                        "created_by_id": None,
                        "created_by": "bench",
                        "idempotency_key": None,
                        "failure_reason": None,
                        "pinned": False,
                        "created_at": live - timedelta(seconds=3),
                        "finished_at": live,
                    }
                )
                if i % 3 == 0:
                    gits.append(
                        {
                            "deploy_id": ids[i],
                            "commit": f"{i:07x}",
                            "committed_at": live - timedelta(hours=2),
                        }
                    )
            conn.execute(insert(Deploy), rows)
            if gits:
                conn.execute(insert(DeployGit), gits)
        conn.execute(
            update(Deployment)
            .where(Deployment.id == deployment_id)
            .values(current_deploy_id=ids[-1])
        )
    return deployment_id


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def _stats(engine: Engine, deployment_id: str, days: int) -> object:
    with Session(engine) as session:
        return deployment_stats(
            session, principal=ADMIN, deployment_id=deployment_id, days=days, now=utcnow()
        )


def _scrape(collector: DoraCollector) -> object:
    return list(collector.collect())


def run(sizes: list[int], repeat: int, scratch: Path) -> list[tuple[int, str, float, float]]:
    results = []
    for size in sizes:
        engine = make_engine(f"sqlite:///{scratch / f'dora-{size}.db'}")
        upgrade_to_head(engine)
        dep_id = seed(engine, size)
        for days in (7, 30, 90):
            median, worst = timed(partial(_stats, engine, dep_id, days), repeat)
            results.append((size, f"deployment_stats(days={days})", median, worst))
        collector = DoraCollector(engine=engine, cache_seconds=0)
        median, worst = timed(partial(_scrape, collector), repeat)
        results.append((size, "Prometheus DORA scrape (30 days)", median, worst))
        engine.dispose()
        print(f"{size:,} deploys done", file=sys.stderr)
    return results


def report(results: list[tuple[int, str, float, float]], sizes: list[int], repeat: int) -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    load = os.getloadavg()[0]
    lines = [
        HEADING,
        "",
        f"`bench/dora_stats.py --sizes {' '.join(map(str, sizes))} --repeat {repeat}`: one "
        "Deployment per size on SQLite, deploys spread evenly over 90 days, every 10th a "
        "rollback, every 3rd with a commit time. Median / max of "
        f"{repeat} runs in ms, each a fresh session. {os.cpu_count()} cores, CPython "
        f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}, commit {commit}, load "
        f"average {load:.1f} when it finished (other test suites share the machine).",
        "",
        "| deploys | what | median ms | max ms |",
        "|---:|---|---:|---:|",
    ]
    lines += [f"| {size:,} | {what} | {m:.1f} | {w:.1f} |" for size, what, m, w in results]
    return "\n".join(lines) + "\n"


def write_section(path: Path, text_new: str) -> None:
    """Replace this benchmark's own section, or append it; other sections stay as they are."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start = text.find(HEADING + "\n")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + text_new
    else:
        end = text.find("\n## ", start + len(HEADING))
        text = text[:start] + text_new + (text[end + 1 :] if end != -1 else "")
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--write", type=Path, help="replace the section in this Markdown file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tarmac-bench-") as scratch:
        results = run(args.sizes, args.repeat, Path(scratch))
    text = report(results, args.sizes, args.repeat)
    print(text)
    if args.write:
        write_section(args.write, text)


if __name__ == "__main__":
    main()
