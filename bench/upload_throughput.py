"""Upload throughput: a 200 MiB incompressible bundle through tarmac, against the standard
tools doing what the job physically needs on the same file.

The job: hash the bundle, keep a copy (the blob), unpack it (the folder agents and
Airflow read) and make both durable. The standard tools do exactly that, in one shell:
``sha256sum``, ``cp``, ``tar -xzf`` and ``sync -f`` (a flush of the file system, what
tarmac does too). tarmac does it over HTTP: a real ``tarmac server`` (SQLite, fresh per
run, warmed by a tiny deploy) receives a DAG_ONLY deploy of the same file, streamed by
httpx from this process; timed from sending the request to the 201 (the deploy live).
The two take turns, so load bursts on this shared machine hit them alike. A thread
samples the server's RSS during the upload: memory should stay flat.

    .venv/bin/python bench/upload_throughput.py [--size-mib 200] [--repeat 3]
        [--write docs/benchmarks.md]

The issue's bar: tarmac at ≥ 80 % of the standard tools' throughput, memory flat.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.deploy_upload_memory import MIB, Run, TarmacTarget, measure, write_bundle  # noqa: E402
from bench.ui_render import write_section  # noqa: E402

HEADING = "## Upload throughput"
TOOLS = (
    'sha256sum "$1" > "$2/sum" && cp "$1" "$2/blob" && mkdir "$2/dir" '
    '&& tar -xzf "$1" -C "$2/dir" && sync -f "$2"'
)


class NoImportCheckTarget(TarmacTarget):
    """tarmac with the Deployment's import gate off: the tools run no Airflow either."""

    deployment_settings = {"dag_import_check": "off"}


@dataclass(frozen=True)
class Pair:
    tools_seconds: float
    tools_cpu: float
    tarmac: Run


def tools_seconds(bundle: Path, sha256: str) -> tuple[float, float]:
    """The standard tools on ``bundle`` in a fresh scratch dir (same disk as tarmac's):
    wall seconds and CPU seconds."""
    with tempfile.TemporaryDirectory(prefix="tarmac-tools-") as scratch:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(["bash", "-c", TOOLS, "tools", str(bundle), scratch], check=True)
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        assert Path(scratch, "sum").read_text().split()[0] == sha256
        assert Path(scratch, "dir", "dags", "bench_upload.py").is_file()
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return seconds, cpu


def report(*, mib: float, pairs: list[Pair], seconds: float) -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
    ).stdout.strip()
    tools = statistics.median(p.tools_seconds for p in pairs)
    tarmac = statistics.median(p.tarmac.seconds for p in pairs)
    growth = [p.tarmac.peak - p.tarmac.baseline for p in pairs]
    kernel = [p.tarmac.kernel_peak - p.tarmac.baseline for p in pairs]
    ratio = tools / tarmac
    lines = [
        HEADING,
        "",
        f"`bench/upload_throughput.py --size-mib {round(mib)} --repeat {len(pairs)}`: "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit}, Python "
        f"{platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, load "
        f"average {os.getloadavg()[0]:.1f} at the end ({seconds / 60:.0f} min run). A "
        f"{mib:.0f} MiB gzip tar of ~{round(mib * 1.6)} incompressible files. *Standard tools*: "
        "`sha256sum`, `cp`, `tar -xzf` and `sync -f` on the file, one after the other. "
        "*tarmac*: a DAG_ONLY deploy of the same file to a real `tarmac server` (SQLite), "
        "from sending the request to the 201 (stored, unpacked, durable, recorded, live; the "
        "Deployment's import gate off, as the tools run no Airflow either); "
        "the client streaming it runs on the same 2 cores. The two take turns.",
        "",
        "| run | standard tools s | tarmac s | tarmac ÷ tools throughput | tools CPU s "
        "| tarmac server CPU s | server RSS peak - before MiB | kernel VmHWM - before MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, pair in enumerate(pairs, start=1):
        run = pair.tarmac
        lines.append(
            f"| {n} | {pair.tools_seconds:.2f} | {run.seconds:.2f} "
            f"| {pair.tools_seconds / run.seconds:.0%} | {pair.tools_cpu:.2f} "
            f"| {run.cpu_seconds:.2f} | {run.peak - run.baseline:.0f} "
            f"| {run.kernel_peak - run.baseline:.0f} |"
        )
    lines += [
        f"| median | {tools:.2f} | {tarmac:.2f} | {ratio:.0%} "
        f"| {statistics.median(p.tools_cpu for p in pairs):.2f} "
        f"| {statistics.median(p.tarmac.cpu_seconds for p in pairs):.2f} "
        f"| {statistics.median(growth):.0f} | {statistics.median(kernel):.0f} |",
        "",
        f"Bar (≥ 80 % of the standard tools' throughput, memory flat): throughput "
        f"{'met' if ratio >= 0.8 else 'not met'} ({ratio:.0%} of {mib / tools:.0f} MiB/s: "
        f"{mib / tarmac:.0f} MiB/s); the server's memory grew by at most {max(growth):.0f} MiB "
        f"for a {mib:.0f} MiB bundle. The CPU columns say what a loaded machine hides: "
        "the server's CPU time per upload against the tools' own.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", type=Path, help="replace this section in this Markdown file")
    args = parser.parse_args()
    if shutil.which("sha256sum") is None or shutil.which("sync") is None:
        parser.error("needs coreutils (sha256sum, sync -f) and tar")
    began = time.monotonic()
    pairs = []
    with tempfile.TemporaryDirectory(prefix="tarmac-bundles-") as scratch:
        bundle = Path(scratch) / "bundle.tar.gz"
        sha256 = write_bundle(bundle, args.size_mib, seed=args.size_mib)
        mib = bundle.stat().st_size / MIB
        tools_seconds(bundle, sha256)  # warm: the file in the page cache for both
        for n in range(args.repeat):
            # Alternate who goes first, so neither always follows the other's writeback.
            if n % 2:
                run = measure(NoImportCheckTarget, bundle, sha256)
                tools, cpu = tools_seconds(bundle, sha256)
            else:
                tools, cpu = tools_seconds(bundle, sha256)
                run = measure(NoImportCheckTarget, bundle, sha256)
            pairs.append(Pair(tools, cpu, run))
            print(f"  run {n + 1}: tools {tools:.2f} s ({cpu:.2f} CPU), {run}", file=sys.stderr)
    section = report(mib=mib, pairs=pairs, seconds=time.monotonic() - began)
    print(section)
    if args.write:
        write_section(args.write, section)
        print(f"wrote {HEADING} in {args.write}", file=sys.stderr)


if __name__ == "__main__":
    main()
