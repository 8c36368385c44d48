"""Deploy history pages at up to 1,000,000 deploys: tarmac's keyset cursor against OFFSET.

Seeds one Deployment with 1,000 and, in a second database, 1,000,000 deploys (bulk inserts
through SQLAlchemy Core into a database migrated to head), then times fetching the first
page, the page after seq N/2 and the last page of the history: the keyset query that
``list_deploys`` runs (``seq < cursor ORDER BY seq DESC LIMIT 21``), the same query with
``ORDER BY seq DESC LIMIT 20 OFFSET n`` at the same rows, the ``list_deploys`` service
function, and an authenticated ``GET …/deploys`` through the app (FastAPI's TestClient),
whose server time (ASGI call to the last body byte: token lookup, sessions, queries,
serialisation; no client, no network) is recorded too. Every timing is one fresh session,
as a request has; tarmac's three ways take turns (shuffled) so that load bursts hit them
alike, and the OFFSET query is timed after them, on its own (``OFFSET_ALONE``).

    .venv/bin/python bench/history_listing.py [--repeat 200] [--write docs/benchmarks.md]
    .venv/bin/python bench/history_listing.py --database-url postgresql://postgres@127.0.0.1:5432/test

The issue's bar: the history page's p99 server time at 1,000,000 deploys under 10 ms.

SQLite databases are temporary files. On PostgreSQL each history gets a fresh schema
(``CREATE SCHEMA``, selected with ``options=-csearch_path=…``) that is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select, text, update
from sqlalchemy.engine import make_url

from tarmac.access.principal import Principal
from tarmac.access.roles import SYSTEM_ROLE_PERMISSIONS, SystemRole
from tarmac.bundles.blob_store import LocalBlobStore
from tarmac.db.base import new_id, utcnow
from tarmac.db.engine import make_engine
from tarmac.db.migrate import upgrade_to_head
from tarmac.db.unit_of_work import Database
from tarmac.deployments.models import Deployment
from tarmac.deploys import service
from tarmac.deploys.models import BundleRecord, Deploy

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
# tests.support imports fastapi.testclient, which warns about httpx on import.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

from bench.ui_render import Timed, write_section  # noqa: E402
from tests.support.bundles import dag_file, make_bundle  # noqa: E402
from tests.support.server import ADMIN_TOKEN, Api  # noqa: E402

from tarmac.api.app import create_app  # noqa: E402
from tarmac.settings import load_settings  # noqa: E402

PAGE = service.DEFAULT_PAGE
BATCH = 10_000
HEADING = "## History pages"
SERVER = "server"
OFFSET_ALONE = (
    "The OFFSET query is timed after the other ways, not between them: each of its calls "
    "reads up to a million rows, and taking turns with it made the next request find "
    "PostgreSQL's caches emptied (about +1.5 ms on the median of the deep pages)."
)
"""The name of the HTTP way's server-side timings (recorded by ``Timed``)."""
ADMIN = Principal(
    user_id="bench",
    username="bench",
    system_role=SystemRole.SYSTEM_ADMIN.value,
    system_permissions=SYSTEM_ROLE_PERMISSIONS[SystemRole.SYSTEM_ADMIN],
)


@dataclass(frozen=True)
class Position:
    """A page of the history, named both ways: a keyset cursor and an OFFSET."""

    key: str  # first, middle or last
    name: str
    cursor_seq: int | None  # rows with seq < cursor_seq; None for the first page
    offset: int

    @property
    def cursor(self) -> str | None:
        return None if self.cursor_seq is None else service._encode_cursor(self.cursor_seq)


def positions(history: int) -> list[Position]:
    middle = history // 2
    return [
        Position("first", "first", None, 0),
        Position("middle", f"after seq {middle:,}", middle, history - middle + 1),
        Position("last", "last", PAGE + 1, history - PAGE),
    ]


def seed(engine: Engine, history: int, *, bundle_sha256: str) -> str:
    """One Deployment with ``history`` deploys, seq 1..history; returns its id."""
    deployment_id = new_id()
    now = utcnow()
    started = now - timedelta(minutes=history)
    deploy_ids = [new_id() for _ in range(history)]
    with engine.begin() as conn:
        conn.execute(
            insert(Deployment).values(
                id=deployment_id,
                name="history-bench",
                release_name="history-bench-1234",
                runtime_version="12.4.0",
                airflow_version="2.10.4",
                executor="CeleryExecutor",
                dag_deploy_mode="dag_deploy",
                rollback_enabled=True,
                resources={},
                last_deploy_seq=history,
                created_at=started,
                updated_at=now,
            )
        )
        conn.execute(
            insert(BundleRecord).values(
                sha256=bundle_sha256, size=1024, manifest=[], created_at=started
            )
        )
        for first in range(0, history, BATCH):
            conn.execute(
                insert(Deploy),
                [
                    _deploy_row(deploy_ids[i], deployment_id, i + 1, started, bundle_sha256)
                    for i in range(first, min(first + BATCH, history))
                ],
            )
        conn.execute(
            update(Deployment)
            .where(Deployment.id == deployment_id)
            .values(current_deploy_id=deploy_ids[-1])
        )
    with engine.connect() as conn:
        # Production databases are analysed (autovacuum, or ANALYZE after big changes).
        conn.execute(text("ANALYZE"))
        conn.commit()
    return deployment_id


def _deploy_row(
    deploy_id: str, deployment_id: str, seq: int, started: datetime, bundle_sha256: str
) -> dict[str, object]:
    created_at = started + timedelta(minutes=seq)
    image_deploy = seq % 10 == 1
    return {
        "id": deploy_id,
        "deployment_id": deployment_id,
        "seq": seq,
        "type": "IMAGE_AND_DAG" if image_deploy else "DAG_ONLY",
        "status": "DEPLOYED",
        "description": f"Deploy number {seq} via tarmac deploy --dags",
        "image": f"registry.example.com/history-bench/airflow:{seq // 10}",
        "runtime_version": "12.4.0",
        "airflow_version": "2.10.4",
        "dag_deploy_enabled": True,
        "bundle_sha256": bundle_sha256,
        "rollback_from_id": None,
        "created_by_id": None,
        "created_by": "bench",
        "idempotency_key": None,
        "failure_reason": None,
        "pinned": False,
        "created_at": created_at,
        "finished_at": created_at + timedelta(seconds=3),
    }


def store_bundle(data_dir: Path) -> str:
    """A real bundle in the server's blob store: on start it makes the current deploy live."""
    store = LocalBlobStore(data_dir / "blobs")
    bundle = make_bundle({"dags/history_bench.py": dag_file("history_bench")})
    with store.stage([bundle], max_bytes=len(bundle)) as staged:
        store.commit(staged)
        return staged.sha256


@contextmanager
def sqlite_database(scratch: Path, history: int) -> Iterator[str]:
    yield f"sqlite:///{scratch / f'history-{history}.db'}"


@contextmanager
def postgres_schema(base_url: str, history: int) -> Iterator[str]:
    """A fresh schema for one history, dropped afterwards."""
    schema = f"bench_history_{history}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def timed_tarmac(*, data_dir: Path, database_url: str) -> Iterator[tuple[Api, Timed]]:
    """The real app (migrations, bootstrap admin) behind a server-time recorder."""
    config = load_settings(
        data_dir=data_dir,
        database_url=database_url,
        bootstrap_token=ADMIN_TOKEN,
        secret_key="bench-secret-key",
    )
    timed = Timed(create_app(config, freeze_heap=True))  # as ``tarmac server`` runs it
    with TestClient(timed, raise_server_exceptions=True) as client:
        yield Api(client, ADMIN_TOKEN), timed


@dataclass(frozen=True)
class Timing:
    median_ms: float
    p99_ms: float
    runs: int


def time_all(
    ways: dict[str, Callable[[], list[int]]],
    *,
    server_ms: list[float],
    repeat: int,
    budget: float,
) -> dict[str, Timing]:
    """Median and p99 of ``repeat`` calls of each way (fewer if ``budget`` seconds run out),
    and of the server times the HTTP way appends to ``server_ms``.

    The ways take turns in a shuffled order, so a burst of load hits all of them alike.
    """
    for fetch in ways.values():
        for _ in range(5):
            fetch()
    server_ms.clear()
    samples: dict[str, list[float]] = {name: [] for name in ways}
    order = list(ways)
    shuffle = random.Random(0).shuffle
    deadline = time.perf_counter() + budget
    for round_ in range(repeat):
        if round_ >= 10 and time.perf_counter() > deadline:
            break
        shuffle(order)  # whoever runs right after an HTTP call finds colder CPU caches
        for name in order:
            started = time.perf_counter()
            ways[name]()
            samples[name].append((time.perf_counter() - started) * 1000)
    if server_ms:
        samples[SERVER] = list(server_ms)
    return {
        name: Timing(
            statistics.median(ms),
            statistics.quantiles(ms, n=100, method="inclusive")[98],
            len(ms),
        )
        for name, ms in samples.items()
    }


def fetchers(
    database: Database,
    api: Api,
    timed: Timed,
    server_ms: list[float],
    deployment_id: str,
    position: Position,
) -> dict[str, Callable[[], list[int]]]:
    """Each way of fetching the page at ``position``; each returns the page's seqs.

    The HTTP way appends each request's server time to ``server_ms``.
    """
    in_history = select(Deploy).where(Deploy.deployment_id == deployment_id)

    def keyset_query() -> list[int]:
        query = in_history
        if position.cursor_seq is not None:
            query = query.where(Deploy.seq < position.cursor_seq)
        with database.session() as session:
            rows = session.scalars(query.order_by(Deploy.seq.desc()).limit(PAGE + 1))
            return [row.seq for row in rows][:PAGE]

    def offset_query() -> list[int]:
        query = in_history.order_by(Deploy.seq.desc()).limit(PAGE).offset(position.offset)
        with database.session() as session:
            return [row.seq for row in session.scalars(query)]

    def service_call() -> list[int]:
        with database.session() as session:
            rows, _next, _deployment = service.list_deploys(
                session, principal=ADMIN, deployment_id=deployment_id, cursor=position.cursor
            )
            return [row.seq for row in rows]

    def http_get() -> list[int]:
        params = {"cursor": position.cursor} if position.cursor else {}
        page = api.ok(api.get(f"/api/v1/deployments/{deployment_id}/deploys", params=params))
        server_ms.append(timed.last * 1000)
        return [item["seq"] for item in page["items"]]

    return {
        "keyset": keyset_query,
        "offset": offset_query,
        "service": service_call,
        "http": http_get,
    }


def bench_history(
    url: str, history: int, *, scratch: Path, repeat: int, budget: float
) -> list[tuple[Position, dict[str, Timing]]]:
    engine = make_engine(url)
    upgrade_to_head(engine)
    data_dir = scratch / f"data-{history}"
    started = time.perf_counter()
    deployment_id = seed(engine, history, bundle_sha256=store_bundle(data_dir))
    print(f"  seeded {history:,} deploys in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    results = []
    with timed_tarmac(data_dir=data_dir, database_url=url) as (api, timed):
        database = Database(engine)
        server_ms: list[float] = []
        for position in positions(history):
            ways = fetchers(database, api, timed, server_ms, deployment_id, position)
            pages = {name: fetch() for name, fetch in ways.items()}
            expected = list(range(history - position.offset, history - position.offset - PAGE, -1))
            assert all(page == expected for page in pages.values()), (position, pages)
            offset = {"offset": ways.pop("offset")}  # on its own: see OFFSET_ALONE
            timings = time_all(ways, server_ms=server_ms, repeat=repeat, budget=budget)
            timings |= time_all(offset, server_ms=[], repeat=repeat, budget=budget)
            print(f"  {history:,} {position.name}: {timings}", file=sys.stderr)
            results.append((position, timings))
    engine.dispose()
    return results


def cell(timing: Timing) -> str:
    return f"{timing.median_ms:.2f} / {timing.p99_ms:.2f}"


def report(
    backend: str,
    results: dict[int, list[tuple[Position, dict[str, Timing]]]],
    repeat: int,
    seconds: float,
) -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
    ).stdout.strip()
    runs = sorted({t.runs for rows in results.values() for _p, ways in rows for t in ways.values()})
    lines = [
        f"{HEADING} ({backend})",
        "",
        f"`bench/history_listing.py --histories {' '.join(str(h) for h in results)}`: "
        f"{backend}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit}, Python "
        f"{platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, load "
        f"average {os.getloadavg()[0]:.1f} at the end ({seconds / 60:.0f} min run). One "
        f"Deployment's history; milliseconds, median / p99 of up to {repeat} fetches of a "
        f"{PAGE}-deploy page per cell (at least {runs[0]}: a time budget per page), "
        "each in a fresh session; tarmac's ways take turns so load hits them alike. "
        f"{OFFSET_ALONE} *Server*: "
        "the authenticated `GET …/deploys` inside the app, from the ASGI call to the last "
        "body byte (token lookup, sessions, queries, serialisation); *TestClient*: the same "
        "request as the client sees it.",
        "",
        "| deploys | page | keyset query | OFFSET query | OFFSET / keyset (median) "
        "| list_deploys() | GET …/deploys: server | GET …/deploys: TestClient |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for history, rows in results.items():
        for position, t in rows:
            ratio = t["offset"].median_ms / t["keyset"].median_ms
            lines.append(
                f"| {history:,} | {position.name} | {cell(t['keyset'])} | {cell(t['offset'])} "
                f"| {ratio:.1f}x | {cell(t['service'])} | {cell(t[SERVER])} | {cell(t['http'])} |"
            )
    longest = max(results)
    worst = max(t[SERVER].p99_ms for _p, t in results[longest])
    verdict = "met" if worst <= 10 else "not met"
    lines += [
        "",
        f"Bar (history page p99 server time ≤ 10 ms at {longest:,} deploys): {verdict}, "
        f"worst page p99 {worst:.2f} ms. The query itself stays flat with the history "
        "(keyset); the rest of a request is its fixed cost: one statement for the token, "
        "its user and roles, one for the Deployment with its runtime status, one for the "
        "page with its Git metadata, and the JSON.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--database-url", help="a PostgreSQL URL; fresh schemas are made in it (default: SQLite)"
    )
    parser.add_argument("--histories", type=int, nargs=2, default=[1_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument(
        "--budget-seconds", type=float, default=60.0, help="time limit per page position"
    )
    parser.add_argument("--write", type=Path, help="replace this section in this Markdown file")
    args = parser.parse_args()
    began = time.monotonic()
    if args.database_url and not args.database_url.startswith("postgres"):
        parser.error("--database-url takes a PostgreSQL URL; SQLite is the default")
    backend = "PostgreSQL" if args.database_url else "SQLite"
    results = {}
    with tempfile.TemporaryDirectory(prefix="tarmac-history-") as tmp:
        scratch = Path(tmp)
        for history in sorted(args.histories):
            database = (
                postgres_schema(args.database_url, history)
                if args.database_url
                else sqlite_database(scratch, history)
            )
            with database as url:
                results[history] = bench_history(
                    url, history, scratch=scratch, repeat=args.repeat, budget=args.budget_seconds
                )
    section = report(backend, results, args.repeat, time.monotonic() - began)
    print(section)
    if args.write:
        write_section(args.write, section)
        print(f"wrote {HEADING} ({backend}) in {args.write}", file=sys.stderr)


if __name__ == "__main__":
    main()
