"""Server memory while a large DAG bundle is pushed as a deploy: tarmac against read-all.

A real ``tarmac server`` (SQLite, a temporary data dir, every installation flag on)
receives a DAG_ONLY deploy whose bundle httpx streams from a file on disk. A thread
samples the server's resident memory (``VmRSS`` in ``/proc/PID/status``) every ~20 ms
during the upload. tarmac's memory should stay flat: the peak above the baseline must
not grow with the bundle. The alternative is a tiny FastAPI app, run the same way under
uvicorn, that does ``await request.body()``, hashes the body and writes it to a file.

    .venv/bin/python bench/deploy_upload_memory.py [--sizes-mib 20 100 200] [--repeat 3]

Each server process is fresh (so no run inherits another's memory or stored blobs) and
has taken one tiny deploy first, so lazy imports are not counted as upload memory. Besides
the sampled peak it reports the kernel's own high-water mark (``VmHWM``, reset through
``/proc/PID/clear_refs`` before each upload) and the bytes the server wrote through
``write(2)`` (``wchar`` in ``/proc/PID/io``) divided by the bundle size.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import httpx
import uvicorn
from fastapi import FastAPI, Request

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
# tests.support imports fastapi.testclient, which warns about httpx on every start.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

from tests.support.bundles import dag_file, make_bundle  # noqa: E402
from tests.support.process import ServerProcess, free_port  # noqa: E402
from tests.support.server import ADMIN_TOKEN  # noqa: E402

MIB = 1024 * 1024
SAMPLE_SECONDS = 0.02
UPLOAD_TIMEOUT = 600.0
TARMAC = "tarmac server"
READ_ALL = "read-all (`await request.body()`)"


def write_bundle(path: Path, size_mib: int, *, seed: int) -> str:
    """A gzip tar of a few hundred incompressible files, built on disk; returns its sha256."""
    rng = random.Random(seed)
    remaining = size_mib * MIB
    with (
        path.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=1) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        dag = dag_file("bench_upload").encode()
        info = tarfile.TarInfo("dags/bench_upload.py")
        info.size = len(dag)
        tar.addfile(info, io.BytesIO(dag))
        index = 0
        while remaining > 0:
            # 128 KiB to 1.1 MiB each: ~320 files for 200 MiB.
            data = rng.randbytes(min(remaining, rng.randint(128 * 1024, 1152 * 1024)))
            info = tarfile.TarInfo(f"dags/data/part_{index:04d}.bin")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            remaining -= len(data)
            index += 1
    return file_sha256(path)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


def proc_field(pid: int, name: str, field: str) -> int:
    """One numeric field of ``/proc/PID/<name>`` (``status`` values are in kB)."""
    with open(f"/proc/{pid}/{name}") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def rss_mib(pid: int) -> float:
    return proc_field(pid, "status", "VmRSS") / 1024


class RssSampler:
    """Samples a process's VmRSS in a thread and keeps the highest value seen."""

    def __init__(self, pid: int, interval: float = SAMPLE_SECONDS) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        self.peak = max(self.peak, rss_mib(self.pid))
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> RssSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


class UploadTarget(Protocol):
    pid: int

    def upload(self, bundle: Path) -> httpx.Response: ...

    def check(self, response: httpx.Response, sha256: str) -> None: ...

    def stop(self) -> None: ...


def _multipart(handle: Any) -> dict[str, Any]:
    return {"files": {"dags": ("dags.tar.gz", handle, "application/gzip")}}


class TarmacTarget:
    """A fresh ``tarmac server`` with one dag_deploy Deployment, warmed by a tiny deploy."""

    deployment_settings: dict[str, Any] = {}
    """Settings it PATCHes on the Deployment once created."""

    def __init__(self, work: Path) -> None:
        self.server = ServerProcess(
            data_dir=work / "data",
            database_url=f"sqlite:///{work / 'tarmac.db'}",
            # The multipart parser spools uploads to TMPDIR; keep it in the scratch dir.
            env={"TMPDIR": str(work)},
        )
        self.client = httpx.Client(
            base_url=self.server.url,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=UPLOAD_TIMEOUT,
        )
        try:
            self.server.start(timeout=120)  # a shared, loaded machine starts slowly
            assert self.server.process is not None
            self.pid = self.server.process.pid
            self._prepare()
        except BaseException:
            self.stop()  # never leave a server behind
            raise

    def _prepare(self) -> None:
        body = {"name": "bench", "runtime_version": "12.4.0", "dag_deploy_mode": "dag_deploy"}
        created = self.client.post("/api/v1/deployments", json=body)
        assert created.status_code == 201, created.text
        if self.deployment_settings:
            changed = self.client.patch(
                f"/api/v1/deployments/{created.json()['id']}", json=self.deployment_settings
            )
            assert changed.status_code == 200, changed.text
        self.path = f"/api/v1/deployments/{created.json()['id']}/deploys"
        warm = make_bundle({"dags/warm.py": dag_file("warm")})
        response = self.client.post(
            self.path,
            data={"type": "DAG_ONLY"},
            files={"dags": ("dags.tar.gz", warm, "application/gzip")},
        )
        self.check(response, hashlib.sha256(warm).hexdigest())

    def upload(self, bundle: Path) -> httpx.Response:
        with bundle.open("rb") as handle:
            return self.client.post(self.path, data={"type": "DAG_ONLY"}, **_multipart(handle))

    def check(self, response: httpx.Response, sha256: str) -> None:
        assert response.status_code == 201, response.text
        deploy = response.json()
        assert deploy["status"] == "DEPLOYED", deploy
        assert deploy["bundle_sha256"] == sha256, deploy

    def stop(self) -> None:
        self.client.close()
        self.server.stop()


class ReadAllTarget:
    """The alternative: this script's ``--serve-read-all`` app under uvicorn, warmed once."""

    def __init__(self, work: Path) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        store = work / "store"
        store.mkdir()
        command = [sys.executable, __file__, "--serve-read-all", str(port), "--store", str(store)]
        self.process = subprocess.Popen(command, env={**os.environ, "TMPDIR": str(work)})
        self.pid = self.process.pid
        self.client = httpx.Client(base_url=self.url, timeout=UPLOAD_TIMEOUT)
        try:
            self._prepare()
        except BaseException:
            self.stop()  # never leave a server behind
            raise

    def _prepare(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.client.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("the read-all server did not start") from None
                time.sleep(0.1)
        warm = self.client.post("/upload", data={"type": "DAG_ONLY"}, **_multipart(b"warm"))
        assert warm.status_code == 200, warm.text

    def upload(self, bundle: Path) -> httpx.Response:
        with bundle.open("rb") as handle:
            return self.client.post("/upload", data={"type": "DAG_ONLY"}, **_multipart(handle))

    def check(self, response: httpx.Response, sha256: str) -> None:
        # It hashes the raw multipart body, so only the status and size can be checked.
        assert response.status_code == 200, response.text
        assert response.json()["size"] > 0

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def serve_read_all(port: int, store: Path) -> None:
    """What a typical upload handler does: the whole body in memory, hashed, written out."""
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, Any]:
        body = await request.body()
        sha256 = hashlib.sha256(body).hexdigest()
        (store / sha256).write_bytes(body)
        return {"sha256": sha256, "size": len(body)}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


@dataclass(frozen=True)
class Run:
    baseline: float
    peak: float
    kernel_peak: float
    written: float
    seconds: float
    samples: int
    cpu_seconds: float = 0.0
    """The server's CPU time (user + system) during the upload."""


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (``/proc/PID/stat``)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(make_target: Callable[[Path], UploadTarget], bundle: Path, sha256: str) -> Run:
    with tempfile.TemporaryDirectory(prefix="tarmac-bench-") as scratch:
        target = make_target(Path(scratch))
        try:
            time.sleep(0.5)  # let the warm-up's garbage settle
            baseline = statistics.median(rss_mib(target.pid) for _ in range(5))
            with open(f"/proc/{target.pid}/clear_refs", "w") as refs:
                refs.write("5")  # reset VmHWM to the current RSS
            wchar_before = proc_field(target.pid, "io", "wchar")
            cpu_before = cpu_seconds(target.pid)
            with RssSampler(target.pid) as sampler:
                started = time.perf_counter()
                response = target.upload(bundle)
                seconds = time.perf_counter() - started
            cpu = cpu_seconds(target.pid) - cpu_before
            target.check(response, sha256)
            written = proc_field(target.pid, "io", "wchar") - wchar_before
            kernel_peak = proc_field(target.pid, "status", "VmHWM") / 1024
        finally:
            target.stop()
    return Run(
        baseline=baseline,
        peak=sampler.peak,
        kernel_peak=kernel_peak,
        written=written / bundle.stat().st_size,
        seconds=seconds,
        samples=sampler.samples,
        cpu_seconds=cpu,
    )


def print_side_by_side(rows: list[tuple[str, float, list[Run]]]) -> None:
    """tarmac and read-all next to each other, one line per bundle size."""
    by_size: dict[int, dict[str, list[Run]]] = {}
    for name, mib, runs in rows:
        by_size.setdefault(round(mib), {})[name] = runs
    print(
        "\n| bundle MiB | tarmac peak - baseline MiB | read-all peak - baseline MiB "
        "| read-all / tarmac | tarmac MiB/s | read-all MiB/s |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for mib, runs_of in by_size.items():
        tarmac, read_all = runs_of[TARMAC], runs_of[READ_ALL]
        growth = [
            statistics.median(r.peak - r.baseline for r in runs) for runs in (tarmac, read_all)
        ]
        speed = [statistics.median(mib / r.seconds for r in runs) for runs in (tarmac, read_all)]
        print(
            f"| {mib} | {growth[0]:.0f} | {growth[1]:.0f} | {growth[1] / max(growth[0], 1):.0f}x "
            f"| {speed[0]:.0f} | {speed[1]:.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes-mib", type=int, nargs="+", default=[20, 100, 200])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--serve-read-all", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_read_all:
        serve_read_all(args.serve_read_all, args.store)
        return
    targets: list[tuple[str, Callable[[Path], UploadTarget]]] = [
        (TARMAC, TarmacTarget),
        (READ_ALL, ReadAllTarget),
    ]
    rows = []
    with tempfile.TemporaryDirectory(prefix="tarmac-bundles-") as scratch:
        for size in args.sizes_mib:
            bundle = Path(scratch) / f"bundle-{size}.tar.gz"
            sha256 = write_bundle(bundle, size, seed=size)
            mib = bundle.stat().st_size / MIB
            for name, make_target in targets:
                runs = [measure(make_target, bundle, sha256) for _ in range(args.repeat)]
                rows.append((name, mib, runs))
                print(f"  {name}, {mib:.0f} MiB: {runs}", file=sys.stderr)
            bundle.unlink()
    print(
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}, "
        f"medians of {args.repeat} runs, RSS sampled every {SAMPLE_SECONDS * 1000:.0f} ms\n"
    )
    print(
        "| server | bundle MiB | baseline RSS MiB | peak RSS MiB | peak - baseline MiB "
        "| kernel VmHWM - baseline MiB | bytes written / bundle | MiB/s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, mib, runs in rows:
        cells = [
            statistics.median(value)
            for value in (
                [r.baseline for r in runs],
                [r.peak for r in runs],
                [r.peak - r.baseline for r in runs],
                [r.kernel_peak - r.baseline for r in runs],
            )
        ]
        written = statistics.median(r.written for r in runs)
        speed = statistics.median(mib / r.seconds for r in runs)
        print(
            f"| {name} | {mib:.0f} | "
            + " | ".join(f"{cell:.0f}" for cell in cells)
            + f" | {written:.2f} | {speed:.0f} |"
        )
    print_side_by_side(rows)


if __name__ == "__main__":
    main()
