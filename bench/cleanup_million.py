"""Benchmark: cleanup of a million expired deploys while API-like requests keep coming.

Bulk-inserts ``--deploys`` expired deploy records (spread over Deployments, some
pinned, some pointing at others with ``rollback_from_id``, sharing a set of bundles
with blob files and unpacked dirs), then runs ``cleanup_deploy_revisions`` while two
threads issue what API requests do: a read transaction (a Deployment and a page of
its history) and a write transaction (an event and a settings change, with SQLite's
write lock taken at BEGIN). Reports the cleanup's duration and how long requests
took, before and during the cleanup, and writes a "Cleanup" section into
``docs/benchmarks.md``.

    .venv/bin/python bench/cleanup_million.py [--deploys 1000000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text, update

from tarmac.bundles.blob_store import LocalBlobStore
from tarmac.cleanup.service import (
    DEFAULT_BATCH_SIZE,
    CleanupReport,
    cleanup_deploy_revisions,
    target_batch_seconds,
)
from tarmac.db.engine import make_engine
from tarmac.db.migrate import upgrade_to_head
from tarmac.db.unit_of_work import Database
from tarmac.deployments.models import Deployment
from tarmac.deploys.models import BundleRecord, Deploy
from tarmac.events.models import EventRecord

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.history_listing import postgres_schema

DEPLOY_COLUMNS = (
    "id, deployment_id, seq, type, status, description, image, runtime_version, "
    "airflow_version, dag_deploy_enabled, bundle_sha256, rollback_from_id, created_by, "
    "pinned, created_at, finished_at"
)
HEADING = "## Cleanup"
CHUNK = 50_000
PIN_EVERY = 10_000
ROLLBACK_EVERY = 50


@dataclass
class Latencies:
    """Durations of one kind of request, in seconds."""

    samples: list[float] = field(default_factory=list)

    def summary(self) -> tuple[float, float, float]:
        ordered = sorted(self.samples) or [0.0]
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return statistics.median(ordered), p99, ordered[-1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploys", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--deployments", type=int, default=100)
    parser.add_argument("--bundles", type=int, default=2_000)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        help="the most deploys per transaction (the cleanup keeps each batch's lock near 30 ms)",
    )
    parser.add_argument("--baseline-seconds", type=float, default=5.0)
    parser.add_argument("--docs", type=Path, default=Path("docs/benchmarks.md"))
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    return parser.parse_args()


def sqlite_time(moment: datetime) -> str:
    """The text SQLAlchemy stores for a UTC datetime on SQLite."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def create_world(
    database: Database, *, root: Path, deployments: int, bundles: int
) -> tuple[list[str], list[str]]:
    """Deployments and bundle records, with blob files and unpacked dirs on disk."""
    old = datetime.now(UTC) - timedelta(days=400)
    shas = [secrets.token_hex(32) for _ in range(bundles)]
    for sha in shas:
        blob = root / "blobs" / sha[:2] / sha
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(b"bundle " + sha.encode())
        (root / "bundles" / sha).mkdir(parents=True)
        (root / "bundles" / sha / "dag.py").write_text("# a DAG\n")
    with database.session(write=True) as session:
        session.add_all(
            BundleRecord(sha256=sha, size=64, manifest=[], created_at=old) for sha in shas
        )
        ids = [secrets.token_hex(16) for _ in range(deployments)]
        session.add_all(
            Deployment(
                id=deployment_id,
                name=f"bench-{n}",
                release_name=f"bench-{n}",
                runtime_version="12.4.0",
                airflow_version="2.10.3",
                executor="CeleryExecutor",
                dag_deploy_mode="dag_deploy",
                resources={},
            )
            for n, deployment_id in enumerate(ids)
        )
        session.commit()
    return ids, shas


def deploy_rows(
    *, count: int, deployment_ids: list[str], shas: list[str], sqlite: bool
) -> Iterator[tuple[Any, ...]]:
    """``count`` expired deploys, then one live (young) deploy per Deployment."""
    start = datetime.now(UTC) - timedelta(days=365)
    previous: str | None = None
    per_deployment = len(deployment_ids)
    stamp: Callable[[datetime], Any] = sqlite_time if sqlite else (lambda moment: moment)
    for n in range(count + per_deployment):
        live = n >= count
        deploy_id = secrets.token_hex(16)
        created = datetime.now(UTC) if live else start + timedelta(seconds=n)
        yield (
            deploy_id,
            deployment_ids[n % per_deployment],
            n // per_deployment + 1,
            "DAG_ONLY",
            "DEPLOYED",
            "bench",
            "quay.io/astronomer/astro-runtime:12.4.0",
            "12.4.0",
            "2.10.3",
            True,
            shas[n % len(shas)],
            previous if n % ROLLBACK_EVERY == 0 else None,
            "bench",
            n % PIN_EVERY == 0 and not live,
            stamp(created),
            stamp(created),
        )
        previous = deploy_id


def bulk_insert(database: Database, rows: Iterator[tuple[Any, ...]]) -> None:
    """executemany on SQLite, COPY on PostgreSQL; one transaction."""
    raw = database.engine.raw_connection()
    try:
        driver = raw.driver_connection
        if database.engine.dialect.name == "postgresql":
            copy_sql = f"COPY deploys ({DEPLOY_COLUMNS}) FROM STDIN"
            with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:  # type: ignore[union-attr]
                for row in rows:
                    copy.write_row(row)
        else:
            cursor = raw.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            marks = ", ".join("?" * len(DEPLOY_COLUMNS.split(",")))
            batch: list[tuple[Any, ...]] = []
            for row in rows:
                batch.append(row)
                if len(batch) == CHUNK:
                    cursor.executemany(
                        f"INSERT INTO deploys ({DEPLOY_COLUMNS}) VALUES ({marks})", batch
                    )
                    batch = []
            if batch:
                cursor.executemany(
                    f"INSERT INTO deploys ({DEPLOY_COLUMNS}) VALUES ({marks})", batch
                )
            cursor.execute("COMMIT")
        raw.commit()
    finally:
        raw.close()


def make_live(database: Database) -> None:
    """Point every Deployment at its newest deploy."""
    with database.session(write=True) as session:
        newest = (
            select(Deploy.id)
            .where(Deploy.deployment_id == Deployment.id)
            .order_by(Deploy.seq.desc())
            .limit(1)
            .scalar_subquery()
        )
        seq = select(func.max(Deploy.seq)).where(Deploy.deployment_id == Deployment.id)
        session.execute(
            update(Deployment).values(
                current_deploy_id=newest, last_deploy_seq=seq.scalar_subquery()
            )
        )
        session.commit()


class RequestLoad:
    """Two threads doing what API requests do, timing each transaction."""

    def __init__(self, database: Database, deployment_ids: list[str]) -> None:
        self.database = database
        self.deployment_ids = deployment_ids
        self.reads = Latencies()
        self.writes = Latencies()
        self.errors = 0
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(self._read, self.reads), daemon=True),
            threading.Thread(target=self._loop, args=(self._write, self.writes), daemon=True),
        ]

    def __enter__(self) -> RequestLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _loop(self, request: Callable[[int], None], latencies: Latencies) -> None:
        n = 0
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                request(n)
            except Exception:  # a lock wait that ran out: counted, and the max shows it
                self.errors += 1
            latencies.samples.append(time.perf_counter() - started)
            n += 1
            time.sleep(0.005)  # a steady trickle of requests, not a flood

    def _read(self, n: int) -> None:
        deployment_id = self.deployment_ids[n % len(self.deployment_ids)]
        with self.database.session() as session:
            session.get(Deployment, deployment_id, populate_existing=True)
            list(
                session.scalars(
                    select(Deploy)
                    .where(Deploy.deployment_id == deployment_id)
                    .order_by(Deploy.seq.desc())
                    .limit(20)
                )
            )

    def _write(self, n: int) -> None:
        deployment_id = self.deployment_ids[n % len(self.deployment_ids)]
        with self.database.session(write=True) as session:
            session.execute(
                update(Deployment)
                .where(Deployment.id == deployment_id)
                .values(description=f"bench {n}")
            )
            session.add(EventRecord(document={"event": {"action": "bench.write"}}))
            session.commit()


def run(args: argparse.Namespace, root: Path, url: str) -> dict[str, Any]:
    database = Database(make_engine(url))
    upgrade_to_head(database.engine)
    sqlite = database.engine.dialect.name == "sqlite"
    ids, shas = create_world(
        database, root=root, deployments=args.deployments, bundles=args.bundles
    )
    started = time.monotonic()
    bulk_insert(
        database, deploy_rows(count=args.deploys, deployment_ids=ids, shas=shas, sqlite=sqlite)
    )
    make_live(database)
    if not sqlite:
        with database.engine.begin() as connection:
            connection.execute(text("ANALYZE deploys"))
    insert_seconds = time.monotonic() - started
    print(f"inserted {args.deploys:,} expired deploys in {insert_seconds:.1f} s", flush=True)

    # As `tarmac server` does once it has started (tarmac.api.app): without it a full
    # collection of this process's heap stopped every thread for ~100 ms, a cost the
    # server does not have.
    gc.collect()
    gc.freeze()
    with RequestLoad(database, ids) as baseline:
        time.sleep(args.baseline_seconds)
    cpu_started = time.thread_time()
    process_cpu_started = time.process_time()
    with RequestLoad(database, ids) as during:
        report = cleanup_deploy_revisions(
            database=database,
            blob_store=LocalBlobStore(root / "blobs"),
            bundles_dir=root / "bundles",
            older_than_days=90,
            dry_run=False,
            actor="bench",
            batch_size=args.batch_size,
            grace_seconds=0,
            in_use_seconds=0,
        )
        cpu_seconds = time.thread_time() - cpu_started
        process_cpu_seconds = time.process_time() - process_cpu_started
    load = os.getloadavg()[0]
    target_seconds = target_batch_seconds(database)
    with database.session() as session:
        remaining = session.scalar(select(func.count()).select_from(Deploy)) or 0
    database.dispose()
    pinned = len(range(0, args.deploys, PIN_EVERY))
    assert remaining == args.deployments + pinned, remaining
    assert report.deleted_deploys == args.deploys - pinned, report
    return {
        "url": url.split("@")[-1],
        "dialect": "SQLite" if sqlite else "PostgreSQL",
        "insert_seconds": insert_seconds,
        "report": report,
        "baseline": baseline,
        "during": during,
        "remaining": remaining,
        "pinned": pinned,
        "cpu_seconds": cpu_seconds,
        "process_cpu_seconds": process_cpu_seconds,
        "load": load,
        "target_seconds": target_seconds,
    }


def markdown(args: argparse.Namespace, result: dict[str, Any]) -> str:
    report: CleanupReport = result["report"]
    baseline: RequestLoad = result["baseline"]
    during: RequestLoad = result["during"]

    def ms(value: float) -> str:
        return f"{value * 1000:.1f}"

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
    ).stdout.strip()
    helpers = "the cleanup, the requests" + (
        " and the thread that checkpoints SQLite's log" if result["dialect"] == "SQLite" else ""
    )
    lines = [
        f"{HEADING} ({result['dialect']})",
        "",
        f"`bench/cleanup_million.py --deploys {args.deploys}` on {result['dialect']}, "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit}, load "
        f"average {result['load']:.1f} when the cleanup ended (the machine is shared: the "
        f"duration is wall time, the CPU time is the cleanup thread's own). {args.deploys:,} "
        f"expired deploys over {args.deployments} Deployments ({result['pinned']} pinned, every "
        f"{ROLLBACK_EVERY}th a rollback of the one before), {args.bundles:,} bundles with "
        f"blob files and unpacked dirs; at most {args.batch_size:,} deploys per transaction, "
        f"sized to hold the lock about {result['target_seconds'] * 1000:.0f} ms each. The "
        "process's start-up heap is frozen before the requests begin, as `tarmac server` "
        "does.",
        "",
        "| cleanup | result |",
        "|---|---|",
        f"| duration | {report.duration_seconds:.1f} s |",
        f"| CPU time of the cleanup thread | {result['cpu_seconds']:.1f} s |",
        f"| CPU time of the whole process ({helpers}) | {result['process_cpu_seconds']:.1f} s |",
        f"| deploys deleted | {report.deleted_deploys:,} "
        f"(kept: {result['remaining']} live or pinned) |",
        f"| bundles deleted (records, blobs, unpacked dirs) | {report.deleted_bundle_records:,}, "
        f"{report.deleted_blobs:,}, {report.deleted_unpacked_dirs:,} |",
        "",
        "Concurrent requests (a read transaction and a write transaction in a loop, each "
        "timed from start to commit, so including any wait for a lock):",
        "",
        "| requests | n | median ms | p99 ms | max ms |",
        "|---|---|---|---|---|",
    ]
    for label, load in (("before cleanup", baseline), ("during cleanup", during)):
        for kind, latencies in (("read", load.reads), ("write", load.writes)):
            median, p99, worst = latencies.summary()
            lines.append(
                f"| {kind}, {label} | {len(latencies.samples):,} | {ms(median)} | {ms(p99)} "
                f"| {ms(worst)} |"
            )
    longest = max(during.reads.summary()[2], during.writes.summary()[2])
    met = report.duration_seconds < 60 and longest <= 0.1
    lines += [
        "",
        f"Requests that failed: {baseline.errors + during.errors}. The longest any request "
        f"took during the cleanup: {ms(longest)} ms. Bar (1,000,000 deploys in under 60 s, no "
        f"request waiting more than 100 ms): {'met' if met else 'not met'} in this run.",
        "",
    ]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace this benchmark's section for its database (or the one from before there
    was one per database) in ``path``, keeping every other section."""
    text_now = path.read_text() if path.exists() else "# Benchmarks\n\n"
    lines = text_now.splitlines(keepends=True)
    heading = section.splitlines()[0].strip()
    names = [i for i, line in enumerate(lines) if line.strip() == heading]
    if not names and heading == f"{HEADING} (SQLite)":  # the one section it had, on SQLite
        names = [i for i, line in enumerate(lines) if line.strip() == HEADING]
    try:
        start = names[0]
    except IndexError:
        path.write_text(text_now.rstrip("\n") + "\n\n" + section)
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    rest = "".join(lines[end:])
    path.write_text("".join(lines[:start]) + section + ("\n" + rest if rest else ""))


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="tarmac-bench-") as tmp:
        if args.database_url:  # a fresh schema, dropped afterwards: the database stays clean
            with postgres_schema(args.database_url, args.deploys) as url:
                result = run(args, Path(tmp), url)
        else:
            result = run(args, Path(tmp), f"sqlite:///{Path(tmp) / 'tarmac.db'}")
    section = markdown(args, result)
    print(section)
    if not args.no_docs:
        args.docs.parent.mkdir(parents=True, exist_ok=True)
        write_section(args.docs, section)
        print(f"wrote the Cleanup section of {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
