"""How fast a real agent's DAGs folder follows a rollback, and what idle agents cost a server.

Part 1 — switch time. A real ``tarmac server`` (SQLite) and a real ``tarmac agent``
subprocess; two bundles of 50 MB in 5,000 files each (random, so incompressible). The
Deployment's history is seeded to 1 or 10,000 deploys (bulk inserts, as in
``history_listing.py``), then the two bundles are deployed on top. Each sample is a
rollback to the deploy that is not live; the clock runs from the rollback's HTTP response
to the moment the agent's symlink points at the target bundle (polled every 2 ms). With
``--keep 10`` the target is still unpacked (cached: a symlink swap); with ``--keep 1`` the
agent pruned it, so it downloads, verifies and unpacks 50 MB first.

Part 2 — idle agents. 1,000 raw HTTP long polls wait on one server process; its RSS and
thread count are read from /proc before and while they wait, then one deploy wakes them all.

    .venv/bin/python bench/agent_switch.py [--cached-runs 40] [--uncached-runs 10] \
        [--histories 1 10000] [--waiters 1000] [--write docs/benchmarks.md]

Linux only (/proc). Takes about 4 minutes here.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

from bench.history_listing import seed, store_bundle  # noqa: E402
from tests.support.process import ServerProcess  # noqa: E402

from tarmac.db.engine import make_engine  # noqa: E402
from tarmac.db.migrate import upgrade_to_head  # noqa: E402

HEADING = "## Agent switch"
FILES = 5_000
FILE_BYTES = 10_000  # 5,000 files of 10 kB = 50 MB
SWITCH_LOG = re.compile(r"to deploy (\w+) .* in ([0-9.]+) s")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make_bundle(seed_value: int) -> bytes:
    """50 MB of random DAG-folder files in 50 folders, as a gzip tar."""
    rng = random.Random(seed_value)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        for i in range(FILES):
            data = rng.randbytes(FILE_BYTES)
            info = tarfile.TarInfo(f"dags/team_{i % 50:02d}/file_{i:05d}.py")
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass(frozen=True)
class Stats:
    median_ms: float
    p99_ms: float
    max_ms: float
    runs: int

    @classmethod
    def of(cls, seconds: list[float]) -> Stats:
        ms = [s * 1000 for s in seconds] or [float("nan")]
        p99 = statistics.quantiles(ms, n=100, method="inclusive")[98] if len(ms) > 1 else ms[0]
        return cls(statistics.median(ms), p99, max(ms), len(seconds))


@dataclass(frozen=True)
class SwitchResult:
    history: int
    cached: bool
    from_response: Stats
    from_request: Stats
    agent_reported: Stats


class Setup:
    """A server with a seeded history, two big deploys on top, and an agent token."""

    def __init__(self, scratch: Path, history: int, bundles: list[bytes]) -> None:
        data_dir = scratch / "data"
        data_dir.mkdir(parents=True)
        database_url = f"sqlite:///{scratch / 'tarmac.db'}"
        engine = make_engine(database_url)
        upgrade_to_head(engine)
        self.deployment_id = seed(engine, history, bundle_sha256=store_bundle(data_dir))
        engine.dispose()
        self.server = ServerProcess(data_dir=data_dir, database_url=database_url)
        self.server.start(timeout=120)
        self.client = self.server.client()
        self.deploys = [self._deploy(bundle) for bundle in bundles]
        me = self.client.get("/api/v1/users/me").json()
        self.token = self.client.post(
            f"/api/v1/users/{me['id']}/tokens",
            json={"name": "bench-agent", "deployment_id": self.deployment_id},
        ).json()["token"]

    def _deploy(self, bundle: bytes) -> dict[str, Any]:
        response = self.client.post(
            f"/api/v1/deployments/{self.deployment_id}/deploys",
            data={"type": "DAG_ONLY", "description": "bench"},
            files={"dags": ("dags.tar.gz", bundle, "application/gzip")},
            timeout=600,
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def rollback(self, target: dict[str, Any]) -> str:
        response = self.client.post(
            f"/api/v1/deployments/{self.deployment_id}/deploys/{target['id']}/rollback",
            json={"description": "bench rollback"},
            timeout=600,
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def close(self) -> None:
        self.client.close()
        self.server.stop()


class LinkWatcher(threading.Thread):
    """Notes, every millisecond, which bundle a symlink points at and since when."""

    def __init__(self, link: Path) -> None:
        super().__init__(daemon=True)
        self.link = link
        self.changes: list[tuple[float, str]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        last = ""
        while not self.stopped.is_set():
            try:
                now = os.path.basename(os.readlink(self.link))
            except OSError:
                now = ""
            if now != last:
                self.changes.append((time.monotonic(), now))
                last = now
            time.sleep(0.001)

    def switched_to(self, sha256: str, *, after: float, timeout: float = 300.0) -> float:
        """When the link first pointed at ``sha256`` after ``after`` (monotonic)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, target in list(self.changes):
                if target == sha256 and at >= after:
                    return at
            time.sleep(0.005)
        raise TimeoutError(f"{self.link} never pointed at {sha256[:12]}")


@dataclass(frozen=True)
class Samples:
    from_response: list[float]
    from_request: list[float]
    agent_reported: list[float]


def measure_switches(setup: Setup, scratch: Path, *, keep: int, runs: int) -> Samples:
    """Rollback after rollback, alternating between the two big deploys."""
    folder = scratch / f"agent-keep-{keep}" / "dags"
    folder.parent.mkdir()
    agent_log = folder.parent / "agent.log"
    command = [
        sys.executable, "-m", "tarmac", "agent", "--server", setup.server.url,
        "--deployment", setup.deployment_id, "--dags-folder", str(folder),
        "--keep", str(keep), "--wait-seconds", "30",
    ]  # fmt: skip
    env = {**os.environ, "TARMAC_TOKEN": setup.token}
    watcher = LinkWatcher(folder)
    watcher.start()
    with agent_log.open("wb") as out:
        agent = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    samples = Samples([], [], [])
    rollback_ids: list[str] = []
    try:
        first, second = setup.deploys
        # Warm up: the agent unpacks both bundles once, so "cached" really is cached.
        for target in (first, second):
            started = time.monotonic()
            setup.rollback(target)
            watcher.switched_to(target["bundle_sha256"], after=started)
        for run in range(runs):
            target = first if run % 2 == 0 else second
            requested = time.monotonic()
            rollback_ids.append(setup.rollback(target))
            answered = time.monotonic()
            switched = watcher.switched_to(target["bundle_sha256"], after=requested)
            samples.from_response.append(switched - answered)
            samples.from_request.append(switched - requested)
            time.sleep(0.3)  # let the agent log and prune before the next rollback
        log(f"  keep={keep}: {[round(s * 1000) for s in samples.from_response]} ms")
    finally:
        agent.terminate()
        agent.wait(timeout=30)
        watcher.stopped.set()
    reported = {m.group(1): float(m.group(2)) for m in SWITCH_LOG.finditer(agent_log.read_text())}
    samples.agent_reported.extend(reported[i] for i in rollback_ids if i in reported)
    return samples


def run_switches(args: argparse.Namespace, scratch: Path) -> list[SwitchResult]:
    log("making two 50 MB bundles of 5,000 files…")
    bundles = [make_bundle(1), make_bundle(2)]
    log(f"  {len(bundles[0]) / 1e6:.1f} MB and {len(bundles[1]) / 1e6:.1f} MB compressed")
    results: list[SwitchResult] = []
    for history in args.histories:
        log(f"history of {history} deploys:")
        here = scratch / f"history-{history}"
        setup = Setup(here, history, bundles)
        try:
            for cached, keep, runs in (
                (True, 10, args.cached_runs),
                (False, 1, args.uncached_runs),
            ):
                samples = measure_switches(setup, here, keep=keep, runs=runs)
                results.append(
                    SwitchResult(
                        history,
                        cached,
                        Stats.of(samples.from_response),
                        Stats.of(samples.from_request),
                        Stats.of(samples.agent_reported),
                    )
                )
        finally:
            setup.close()
    return results


# --- idle agents --------------------------------------------------------------------------


def proc_status(pid: int) -> tuple[float, int]:
    """RSS (MiB) and thread count of a process."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["Threads"])


async def long_poll(url: str, path: str, token: str, etag: str) -> tuple[int, float]:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"GET {path}?wait=60 HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"If-None-Match: {etag}\r\nConnection: close\r\n\r\n".encode()
    )
    await writer.drain()
    response = await reader.read()
    answered = time.monotonic()
    writer.close()
    return int(response.split(b" ", 2)[1]), answered


@dataclass(frozen=True)
class IdleResult:
    waiters: int
    rss_before_mib: float
    rss_waiting_mib: float
    threads_before: int
    threads_waiting: int
    deploy_response_ms: float
    """From sending the deploy to its response (upload, unpack, commit, event log)."""
    first_answer_ms: float
    last_answer_ms: float
    """From sending the deploy to the first and the last of the waiters' answers."""
    answered_200: int


def run_idle(args: argparse.Namespace, scratch: Path) -> IdleResult:
    log(f"{args.waiters} idle long polls:")
    setup = Setup(scratch / "idle", 1, [make_bundle_small(1)])
    try:
        pid = setup.server.process.pid  # type: ignore[union-attr]
        path = f"/api/v1/deployments/{setup.deployment_id}/dags/current"
        etag = httpx.get(
            setup.server.url + path, headers={"Authorization": f"Bearer {setup.token}"}
        ).headers["etag"]

        async def scenario() -> IdleResult:
            # Same warm-up as the test: the threadpool is filled before counting threads.
            await asyncio.gather(
                *(long_poll(setup.server.url, path, setup.token, '"x"') for _ in range(200))
            )
            rss_before, threads_before = proc_status(pid)
            tasks = [
                asyncio.create_task(long_poll(setup.server.url, path, setup.token, etag))
                for _ in range(args.waiters)
            ]
            await asyncio.sleep(15)  # every request authenticated and asleep
            rss_waiting, threads_waiting = proc_status(pid)
            requested = time.monotonic()
            await asyncio.to_thread(setup._deploy, make_bundle_small(2))
            responded = time.monotonic()
            answers = await asyncio.gather(*tasks)
            times = [at - requested for _status, at in answers]
            return IdleResult(
                waiters=args.waiters,
                rss_before_mib=rss_before,
                rss_waiting_mib=rss_waiting,
                threads_before=threads_before,
                threads_waiting=threads_waiting,
                deploy_response_ms=(responded - requested) * 1000,
                first_answer_ms=min(times) * 1000,
                last_answer_ms=max(times) * 1000,
                answered_200=sum(status == 200 for status, _at in answers),
            )

        result = asyncio.run(scenario())
    finally:
        setup.close()
    log(f"  {result}")
    return result


def make_bundle_small(seed_value: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = f"# small bundle {seed_value}\n".encode()
        info = tarfile.TarInfo("dag.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# --- report -------------------------------------------------------------------------------


def _commit() -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
    ).stdout.strip()


def markdown(switches: list[SwitchResult], idle: IdleResult | None) -> str:
    lines = [
        HEADING,
        "",
        f"`bench/agent_switch.py`, {time.strftime('%Y-%m-%d %H:%M %Z')}, commit {_commit()}, "
        f"{os.cpu_count()} cores shared with other work (load average "
        f"{os.getloadavg()[0]:.1f} at the end), SQLite, a real `tarmac server` and a real "
        "`tarmac agent` on one machine. Bundle: 50 MB in "
        "5,000 files (random bytes, so the tar.gz is 50 MB too). A thread polls the agent's "
        "symlink every millisecond. *response → switched*: from the rollback's HTTP response "
        "to the symlink pointing at the target; negative when the agent switched before the "
        "response reached the client (it is woken at commit). *request → switched*: from "
        "sending the rollback (includes the server's work). *agent's switch*: what the agent "
        "logs, from its poll's answer to the swap.",
        "",
        "| history | target | response → switched: median | p99 | request → switched: median "
        "| p99 | agent's switch: median | p99 | runs |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in switches:
        target = "cached (kept unpacked)" if r.cached else "not cached (download + unpack)"
        lines.append(
            f"| {r.history:,} | {target} | {r.from_response.median_ms:.0f} ms "
            f"| {r.from_response.p99_ms:.0f} ms | {r.from_request.median_ms:.0f} ms "
            f"| {r.from_request.p99_ms:.0f} ms | {r.agent_reported.median_ms:.0f} ms "
            f"| {r.agent_reported.p99_ms:.0f} ms | {r.from_response.runs} |"
        )
    lines += [
        "",
        "p99 of so few runs is close to the maximum. A cached switch is a symlink swap; an "
        "uncached one fetches and unpacks the target's files (the two bundles here share "
        "none, so the agent's deltas save nothing: every byte moves) and makes them durable "
        "with one file-system flush, so it moves with the machine's disk and CPU load. The "
        "history length does not enter the switch: the agent asks only for the live deploy "
        "and the files it lacks.",
    ]
    if idle is not None:
        lines += [
            "",
            f"Idle agents: {idle.waiters:,} long polls waiting on one server process.",
            "",
            "| server | before | while they wait |",
            "|---|---:|---:|",
            f"| RSS | {idle.rss_before_mib:.0f} MiB | {idle.rss_waiting_mib:.0f} MiB |",
            f"| threads | {idle.threads_before} | {idle.threads_waiting} |",
            "",
            "Threads never exceed the server's own plus its 40-thread pool, whose idle workers "
            "exit after 10 s; no request keeps one while it waits.",
            "",
            f"One deploy then woke them all: {idle.answered_200:,} answered 200 with the new "
            f"ETag. From sending the deploy: first answer {idle.first_answer_ms:.0f} ms, last "
            f"{idle.last_answer_ms:.0f} ms, the deploy's own response "
            f"{idle.deploy_response_ms:.0f} ms (the waiters are woken at commit, before the "
            "deploy has answered, and all get the live DAGs the watcher read once). About "
            f"{(idle.rss_waiting_mib - idle.rss_before_mib) * 1024 / idle.waiters:.0f} KiB "
            "of memory per waiting agent (its connection and request), no thread.",
        ]
    return "\n".join(lines) + "\n"


def write_section(path: Path, report: str) -> None:
    """Replace this benchmark's own section, or append it; other sections stay as they are."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start = text.find(HEADING + "\n")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + report
    else:
        end = text.find("\n## ", start + len(HEADING))
        text = text[:start] + report + (text[end + 1 :] if end != -1 else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cached-runs", type=int, default=40)
    parser.add_argument("--uncached-runs", type=int, default=10)
    parser.add_argument("--histories", type=int, nargs="+", default=[1, 10_000])
    parser.add_argument("--waiters", type=int, default=1_000, help="0 skips part 2")
    parser.add_argument("--write", type=Path, help="replace the section in this Markdown file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tarmac-agent-bench-") as tmp:
        switches = run_switches(args, Path(tmp))
        idle = run_idle(args, Path(tmp)) if args.waiters else None
    report = markdown(switches, idle)
    print(report)
    if args.write:
        write_section(args.write, report)


if __name__ == "__main__":
    main()
