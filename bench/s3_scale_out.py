"""Scale-out on an S3 blob store: upload memory, and many agents across two replicas.

Everything is real and local: a ``moto`` S3 server process (``python -m moto.server``),
one PostgreSQL schema, and two ``tarmac server`` processes with separate data dirs,
both on ``TARMAC_BLOB_STORE_URL=s3://…``.

Part 1 — upload. A DAG_ONLY deploy of an incompressible bundle (256 MiB by default,
``--full`` for 1 GiB) streamed from disk to replica A, while a thread samples A's RSS
(``/proc/PID/status``). The bundle is staged on A's disk, sent to the bucket as a
multipart upload (16 MiB parts), then unpacked from the bucket.

Part 2 — agents. N simulated agents (1,000 by default) long-poll ``/dags/current``, half
on each replica. One deploy through replica A; each agent, when its poll answers, fetches
the bundle — from the pre-signed ``download_url`` when the server hands one out, else
from ``/api/v1/blobs`` — and checks its sha256. Run twice: with pre-signed URLs, and with
them off (``TARMAC_DOWNLOAD_URL_SECONDS=0``). Reported: time from sending the deploy to
the last agent holding the bundle, and the bytes that went through the API replicas
against straight from the store.

    .venv/bin/python bench/s3_scale_out.py [--full] [--upload-mib 256] [--agents 1000] \
        [--bundle-kib 256] [--database-url URL] [--write docs/benchmarks.md]

Linux only (/proc). About 3 minutes here with the defaults, 5 or more with `--full`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import hashlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

from bench.deploy_upload_memory import RssSampler, rss_mib, write_bundle  # noqa: E402
from tests.support.bundles import dag_file, make_bundle  # noqa: E402
from tests.support.process import ServerProcess  # noqa: E402
from tests.support.s3 import S3Server, running_s3_server  # noqa: E402
from tests.support.server import ADMIN_TOKEN  # noqa: E402

HEADING = "## Scale-out on S3"
MIB = 1024 * 1024
DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/test"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def postgres_schema(base: str) -> Iterator[str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    url = make_url(base).set(drivername="postgresql+psycopg")
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def two_replicas(
    work: Path, database_url: str, s3: S3Server, *, presign: bool
) -> Iterator[tuple[ServerProcess, ServerProcess, str]]:
    """Two replicas on a fresh schema and a fresh bucket (no round sees another's data)."""
    bucket = s3.new_bucket()
    env = {
        **s3.env(),
        "TARMAC_BLOB_STORE_URL": f"s3://{bucket}/tarmac",
        "TARMAC_DOWNLOAD_URL_SECONDS": "300" if presign else "0",
        # A 1 GiB payload is a little over 1 GiB once tarred and gzipped.
        "TARMAC_MAX_BUNDLE_UPLOAD_BYTES": str(2 * 1024**3),
        "TARMAC_MAX_BUNDLE_UNPACKED_BYTES": str(3 * 1024**3),
        "TMPDIR": str(work),
    }
    tag = uuid.uuid4().hex[:6]
    with postgres_schema(database_url) as schema_url:
        a, b = (
            ServerProcess(data_dir=work / f"{name}-{tag}", database_url=schema_url, env=env)
            for name in ("a", "b")
        )
        with _running(a, b):
            yield a, b, bucket


@contextmanager
def _running(a: ServerProcess, b: ServerProcess) -> Iterator[None]:
    try:
        a.start()
        b.start()
        yield
    finally:
        b.stop()
        a.stop()


def new_deployment(client: httpx.Client, name: str) -> str:
    body = {"name": name, "runtime_version": "12.4.0", "dag_deploy_mode": "dag_deploy"}
    created = client.post("/api/v1/deployments", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def deploy(client: httpx.Client, deployment_id: str, bundle: bytes) -> None:
    response = client.post(
        f"/api/v1/deployments/{deployment_id}/deploys",
        data={"type": "DAG_ONLY"},
        files={"dags": ("d.tgz", bundle, "application/gzip")},
    )
    assert response.status_code == 201, response.text


# --- Part 1 -----------------------------------------------------------------------------


@dataclass
class Upload:
    size_mib: int
    seconds: float
    rss_before_mib: float
    rss_peak_mib: float
    samples: int


def run_upload(work: Path, database_url: str, s3: S3Server, size_mib: int) -> Upload:
    bundle = work / "upload.tgz"
    log(f"writing a {size_mib} MiB bundle")
    sha = write_bundle(bundle, size_mib, seed=16)
    with two_replicas(work, database_url, s3, presign=True) as (a, _b, bucket):
        with a.client() as client:
            dep = new_deployment(client, "upload")
            deploy(client, dep, make_bundle({"warm.py": dag_file("warm")}))  # lazy imports
            assert a.process is not None
            before = rss_mib(a.process.pid)
            log(f"uploading {size_mib} MiB to replica A (RSS {before:.0f} MiB)")
            started = time.monotonic()
            with RssSampler(a.process.pid) as sampler, bundle.open("rb") as handle:
                response = client.post(
                    f"/api/v1/deployments/{dep}/deploys",
                    data={"type": "DAG_ONLY"},
                    files={"dags": ("d.tgz", handle, "application/gzip")},
                    timeout=1800,
                )
            seconds = time.monotonic() - started
            assert response.status_code == 201, response.text
            assert response.json()["bundle_sha256"] == sha
        head = s3.client().head_object(Bucket=bucket, Key=f"tarmac/blobs/{sha[:2]}/{sha}")
        assert head["ContentLength"] == bundle.stat().st_size
    bundle.unlink()
    return Upload(size_mib, seconds, before, sampler.peak, sampler.samples)


# --- Part 2 -----------------------------------------------------------------------------


@dataclass
class Fleet:
    presign: bool
    agents: int
    reached: int
    bundle_bytes: int
    last_seconds: float
    median_seconds: float
    api_bytes: int
    store_bytes: int
    retries: int


async def agent(
    http: httpx.AsyncClient, url: str, path: str, etag: str, sha: str, started: list[float]
) -> tuple[float, str, int, int]:
    """One agent: long-poll, then fetch the new bundle; (done at, via, bytes, retries)."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "If-None-Match": etag}
    retries = 0
    while True:
        try:
            answer = await http.get(f"{url}{path}", params={"wait": 60}, headers=headers)
            if answer.status_code == 200:
                live = answer.json()
                assert live["bundle_sha256"] == sha
                if live.get("download_url"):
                    via, fetched = "store", await http.get(live["download_url"])
                else:
                    blob = f"{url}/api/v1/blobs/{sha}"
                    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
                    via, fetched = "api", await http.get(blob, headers=auth)
                if fetched.status_code == 200:
                    break
        except httpx.TransportError:
            pass
        # As the real agent does: a failed poll or download is retried (after a pause).
        retries += 1
        await asyncio.sleep(0.5)
    assert hashlib.sha256(fetched.content).hexdigest() == sha
    return time.monotonic() - started[0], via, len(fetched.content), retries


async def fleet_round(
    replicas: tuple[ServerProcess, ServerProcess], path: str, etag: str, agents: int, go: object
) -> list[tuple[float, str, int, int]]:
    limits = httpx.Limits(max_connections=agents + 10, max_keepalive_connections=agents + 10)
    started = [0.0]
    bundle: bytes = go  # type: ignore[assignment]
    sha = hashlib.sha256(bundle).hexdigest()
    async with httpx.AsyncClient(timeout=300, limits=limits) as http:
        tasks = [
            asyncio.create_task(agent(http, replicas[i % 2].url, path, etag, sha, started))
            for i in range(agents)
        ]
        await asyncio.sleep(min(30.0, 3.0 + agents / 100))  # let every poll arrive and wait
        started[0] = time.monotonic()
        with replicas[0].client() as client:
            await asyncio.to_thread(deploy, client, path.split("/")[4], bundle)
        return await asyncio.gather(*tasks)


def run_fleet(
    work: Path, database_url: str, s3: S3Server, *, agents: int, bundle_kib: int, presign: bool
) -> Fleet:
    first = make_bundle({"etl.py": dag_file("etl", marker="v1")})
    second = make_bundle(
        {"etl.py": dag_file("etl", marker="v2"), "data.bin": _noise(bundle_kib * 1024)}
    )
    with two_replicas(work, database_url, s3, presign=presign) as (a, b, _bucket):
        with a.client() as client:
            dep = new_deployment(client, f"fleet-{int(presign)}")
            deploy(client, dep, first)
            path = f"/api/v1/deployments/{dep}/dags/current"
            etag = client.get(path).headers["etag"]
        log(f"{agents} agents long-polling two replicas (pre-signed URLs: {presign})")
        results = asyncio.run(fleet_round((a, b), path, etag, agents, second))
        log(f"  last agent done {max(r[0] for r in results):.1f} s after the deploy")
    times = [r[0] for r in results]
    return Fleet(
        presign=presign,
        agents=agents,
        reached=len(results),
        bundle_bytes=len(second),
        last_seconds=max(times),
        median_seconds=statistics.median(times),
        api_bytes=sum(r[2] for r in results if r[1] == "api"),
        store_bytes=sum(r[2] for r in results if r[1] == "store"),
        retries=sum(r[3] for r in results),
    )


def _noise(size: int) -> bytes:
    return hashlib.shake_256(b"tarmac").digest(size)


# --- Report -----------------------------------------------------------------------------


def markdown(upload: Upload | None, fleets: list[Fleet], *, full: bool) -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO_ROOT
    ).stdout.strip()
    today = datetime.date.today().isoformat()
    lines = [
        HEADING,
        "",
        f"`bench/s3_scale_out.py` on {today}, commit {commit}; a moto S3 server process, "
        "PostgreSQL 15 and two `tarmac server` replicas with separate data dirs, all on "
        "this shared 2-core machine.",
        "",
    ]
    if upload is not None:
        size = "1 GiB (`--full`)" if full else f"{upload.size_mib} MiB (`--full`: 1 GiB)"
        lines += [
            f"Upload of a {size} incompressible bundle to replica A (staged on its disk, "
            "multipart to the bucket in 16 MiB parts, then unpacked from the bucket):",
            "",
            "| bundle | time | RSS before | RSS peak | peak - before | samples |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {upload.size_mib} MiB | {upload.seconds:.1f} s | {upload.rss_before_mib:.0f} MiB "
            f"| {upload.rss_peak_mib:.0f} MiB | {upload.rss_peak_mib - upload.rss_before_mib:.0f} "
            f"MiB | {upload.samples} |",
            "",
        ]
    if fleets:
        lines += [
            f"{fleets[0].agents:,} simulated agents (asyncio, one process) long-polling, half "
            "on each replica; one deploy of a "
            f"{fleets[0].bundle_bytes / 1024:.0f} KiB bundle through replica A; each agent "
            "then fetches and verifies the bundle. Time from sending the deploy:",
            "",
            "| bundle from | agents reached | median | last | through the API replicas "
            "| straight from the store | retried requests |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for f in fleets:
            source = "pre-signed URL" if f.presign else "API (`TARMAC_DOWNLOAD_URL_SECONDS=0`)"
            lines.append(
                f"| {source} | {f.reached:,}/{f.agents:,} | {f.median_seconds:.1f} s "
                f"| {f.last_seconds:.1f} s | {f.api_bytes / MIB:.1f} MiB "
                f"| {f.store_bytes / MIB:.1f} MiB | {f.retries} |"
            )
        lines += [
            "",
            "Here the store is moto, a single Python process on the same two cores, so the "
            "times say little about a real S3; the byte columns are what moves: with URLs "
            "the replicas serve only the long polls' JSON.",
        ]
    return "\n".join(lines) + "\n"


def write_section(path: Path, report: str) -> None:
    """Replace this benchmark's own section, or append it; other sections stay as they are."""
    doc = path.read_text() if path.exists() else "# Benchmarks\n"
    start = doc.find(HEADING + "\n")
    if start == -1:
        doc = doc.rstrip("\n") + "\n\n" + report
    else:
        end = doc.find("\n## ", start + len(HEADING))
        doc = doc[:start] + report + (doc[end + 1 :] if end != -1 else "")
    path.write_text(doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="upload 1 GiB (overrides --upload-mib)")
    parser.add_argument("--upload-mib", type=int, default=256, help="0 skips part 1")
    parser.add_argument("--agents", type=int, default=1_000, help="0 skips part 2")
    parser.add_argument("--bundle-kib", type=int, default=256)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE)
    parser.add_argument("--write", type=Path, help="replace the section in this Markdown file")
    args = parser.parse_args()
    size_mib = 1024 if args.full else args.upload_mib
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.agents + 256)), hard))
    with (
        tempfile.TemporaryDirectory(prefix="tarmac-s3-bench-") as tmp,
        running_s3_server(Path(tmp) / "moto") as s3,
    ):
        work, database_url = Path(tmp), args.database_url
        upload = run_upload(work, database_url, s3, size_mib) if size_mib else None
        fleets = [
            run_fleet(
                work, database_url, s3, agents=args.agents, bundle_kib=args.bundle_kib, presign=p
            )
            for p in ((True, False) if args.agents else ())
        ]
    report = markdown(upload, fleets, full=args.full)
    print(report)
    if args.write:
        write_section(args.write, report)


if __name__ == "__main__":
    main()
