"""Rollback, request to folder, for tarmac and the peers a user would pick, in ONE run.

Trees of 500 and 5,000 files (4 kB of random bytes each); version B changes 10 % of
version A's files (same sizes: a DAG edit rarely changes a file's length much). Every
scenario rolls a consumer's folder back and forth between A and B; each sample is timed
from the moment the rollback is *requested* to the moment the consumer's folder holds the
target (a symlink swap, or the last file written), and after each sample every file of
the folder is compared with the target's bytes (not timed). Scenarios:

- **tarmac, cached**: a real ``tarmac server`` (SQLite) and a real ``tarmac agent``
  (``--keep 10``: it still holds the target unpacked). Request: ``POST .../rollback``.
- **tarmac, uncached**: the same with ``--keep 1``: the agent holds only the live
  version, so it builds the target from a delta (fetches the changed files, links the rest).
- **git-sync style**: the publisher ``git revert``s the last change and pushes to a local
  bare repository; the consumer ``git fetch``es, ``git worktree add``s the new commit and
  swaps a symlink to it (what git-sync does). The consumer holds every earlier object, the
  best case for git.
- **object store, usual** (``aws s3 sync`` semantics: size and modification time): the
  publisher syncs the target version's folder (kept from its build, so its files keep
  their build times) up to a local S3-compatible server (moto's server mode), the consumer
  syncs it down; both with ten transfer threads, like the AWS CLI.
- **object store, exact**: the same, comparing MD5 checksums (the ETag) instead.

    .venv/bin/python bench/peers.py [--sizes 500] [--runs 5] [--write docs/benchmarks.md]
    .venv/bin/python bench/peers.py --full   # 500 and 5,000 files, 20 runs per scenario

Linux; needs git and ``moto[server]`` (``pip install -e ".[bench]"``). The default (500
files) takes about 2 minutes; 5,000 files take several minutes more, mostly the object
store peer (moto is a Python server).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.agent_switch import LinkWatcher  # noqa: E402
from bench.peer_common import FILE_BYTES, Result, Tree, check, trees, write_tree  # noqa: E402
from bench.peer_object_store import ObjectStore, object_store  # noqa: E402
from bench.rollback_request import pack, write_section  # noqa: E402
from tests.support.process import ServerProcess  # noqa: E402

HEADING = "## Rollback against peers"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- tarmac ----------------------------------------------------------------------------


def tarmac(scratch: Path, files: int, a: Tree, b: Tree, runs: int) -> list[Result]:
    data_dir = scratch / "tarmac-data"
    server = ServerProcess(data_dir=data_dir, database_url=f"sqlite:///{scratch / 't.db'}")
    server.start(timeout=120)
    client = server.client()
    try:
        dep = client.post(
            "/api/v1/deployments",
            json={
                "name": f"peers-{files}",
                "runtime_version": "12.4.0",
                "dag_deploy_mode": "dag_deploy",
            },
        ).json()
        client.patch(f"/api/v1/deployments/{dep['id']}", json={"rollback_enabled": True})
        deploys = []
        for tree in (a, b):
            response = client.post(
                f"/api/v1/deployments/{dep['id']}/deploys",
                data={"type": "DAG_ONLY", "description": "bench"},
                files={"dags": ("d.tar.gz", pack(tree), "application/gzip")},
                timeout=300,
            )
            assert response.status_code == 201, response.text
            deploys.append(response.json())
        me = client.get("/api/v1/users/me").json()
        token = client.post(
            f"/api/v1/users/{me['id']}/tokens", json={"name": "agent", "deployment_id": dep["id"]}
        ).json()["token"]
        results = []
        for keep, name in ((10, "tarmac, cached"), (1, "tarmac, uncached (delta)")):
            results.append(
                _tarmac_agent(
                    scratch / f"agent-{keep}",
                    server,
                    client,
                    dep["id"],
                    token,
                    deploys,
                    (a, b),
                    keep=keep,
                    runs=runs,
                    result=Result(name, files),
                )
            )
        return results
    finally:
        client.close()
        server.stop()


def _tarmac_agent(
    root: Path,
    server: ServerProcess,
    client: Any,
    dep_id: str,
    token: str,
    deploys: list[dict[str, Any]],
    versions: tuple[Tree, Tree],
    *,
    keep: int,
    runs: int,
    result: Result,
) -> Result:
    folder = root / "dags"
    root.mkdir(parents=True)
    agent_log = root / "agent.log"
    command = [
        sys.executable,
        "-m",
        "tarmac",
        "agent",
        "--server",
        server.url,
        "--deployment",
        dep_id,
        "--dags-folder",
        str(folder),
        "--keep",
        str(keep),
        "--wait-seconds",
        "30",
    ]
    watcher = LinkWatcher(folder)
    watcher.start()
    with agent_log.open("wb") as out:
        agent = subprocess.Popen(
            command, env={**os.environ, "TARMAC_TOKEN": token}, stdout=out, stderr=out
        )
    try:
        live = client.get(f"/api/v1/deployments/{dep_id}/dags/current").json()
        live_index = 0 if live["bundle_sha256"] == deploys[0]["bundle_sha256"] else 1
        watcher.switched_to(deploys[live_index]["bundle_sha256"], after=0.0, timeout=300)
        for run in range(runs + 1):  # the first one warms the agent's caches
            target = 1 - live_index
            sha = deploys[target]["bundle_sha256"]
            fetched_before = len(_fetched(agent_log))
            started = time.monotonic()
            response = client.post(
                f"/api/v1/deployments/{dep_id}/deploys/{deploys[target]['id']}/rollback",
                json={"description": "bench"},
            )
            assert response.status_code == 201, response.text
            at = watcher.switched_to(sha, after=started)
            live_index = target
            if run == 0:
                continue
            result.seconds.append(at - started)
            check(result, folder, versions[target])
            deadline = time.monotonic() + 5
            while keep == 1 and len(_fetched(agent_log)) == fetched_before:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            moved = _fetched(agent_log)[fetched_before:]
            result.bytes_moved.append(sum(moved))
    finally:
        agent.terminate()
        agent.wait(timeout=20)
        watcher.stopped.set()
    return result


def _fetched(agent_log: Path) -> list[int]:
    text = agent_log.read_text(errors="replace")
    return [int(m) for m in re.findall(r"files fetched \((\d+) bytes\)", text)]


# --- git-sync style --------------------------------------------------------------------


def git(*args: str, cwd: Path) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@x",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@x",
    }
    out = subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def git_sync(scratch: Path, files: int, a: Tree, b: Tree, runs: int) -> Result:
    result = Result("git-sync style (revert, push, fetch, worktree, swap)", files)
    origin, publisher, consumer = scratch / "origin.git", scratch / "pub", scratch / "consumer.git"
    git("init", "-q", "--bare", "-b", "main", str(origin), cwd=scratch)
    git("init", "-q", "-b", "main", str(publisher), cwd=scratch)
    for tree, message in ((a, "A"), (b, "B")):
        write_tree(publisher, tree)
        git("add", "-A", cwd=publisher)
        git("commit", "-q", "-m", message, cwd=publisher)
    git("remote", "add", "origin", str(origin), cwd=publisher)
    git("push", "-q", "origin", "main", cwd=publisher)
    git("clone", "-q", "--bare", str(origin), str(consumer), cwd=scratch)
    link = scratch / "git-dags"
    expected = [a, b]
    live = 1
    for run in range(runs + 1):
        started = time.monotonic()
        git("revert", "--no-edit", "HEAD", cwd=publisher)
        git("push", "-q", "origin", "main", cwd=publisher)
        git("fetch", "-q", "origin", "main", cwd=consumer)
        commit = git("rev-parse", "FETCH_HEAD", cwd=consumer)
        worktree = scratch / "worktrees" / commit
        git("worktree", "add", "-q", "--detach", str(worktree), commit, cwd=consumer)
        swap = scratch / f".git-dags.{run}"
        os.symlink(worktree, swap)
        os.replace(swap, link)
        elapsed = time.monotonic() - started
        live = 1 - live
        if run == 0:
            continue
        result.seconds.append(elapsed)
        result.bytes_moved.append(0)  # not measured: git's fetch packs are small deltas
        check(result, link, expected[live])
    return result


# --- report ----------------------------------------------------------------------------


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def commit() -> str:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    return out.stdout.strip() or "unknown"


def render(results: list[Result], *, runs: int, command: str) -> str:
    lines = [
        HEADING,
        "",
        f"`bench/peers.py {command}`: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"commit {commit()}, Python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end. "
        f"{runs} rollbacks per scenario after one warm-up, each timed from the rollback "
        "request to the folder holding the target's exact bytes (every file compared after "
        f"each rollback); files of {FILE_BYTES:,} random bytes, 10 % changed per version. "
        "p99 is the largest sample when there are fewer than 100.",
        "",
        "| files | scenario | median ms | p99 ms | bytes moved (median) | stale files left | "
        "git-style ÷ this (median) |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for files in sorted({r.files for r in results}):
        rows = [r for r in results if r.files == files]
        git_row = next(r for r in rows if r.name.startswith("git"))
        git_median = statistics.median(git_row.seconds)
        for r in rows:
            median = statistics.median(r.seconds)
            moved = (
                f"{statistics.median(r.bytes_moved):,.0f}"
                if not r.name.startswith("git")
                else "n/a"
            )
            stale = max(r.stale) if r.stale else 0
            lines.append(
                f"| {files:,} | {r.name} | {median * 1000:.1f} | "
                f"{_p(r.seconds, 0.99) * 1000:.1f} | "
                f"{moved} | {stale} | {git_median / median:.1f}x |"
            )
    lines += [
        "",
        "- **Stale files.** The usual object-store sync compares sizes and times only. A "
        "rollback syncs the older build up; its files are older than the objects in the "
        "bucket and as long as them, so none is sent and the bucket (then the consumer) keeps "
        "the newer bytes: the 'stale files left' column counts files whose bytes were wrong "
        "when the sync said it was done. Its time is therefore not a rollback at all.",
        "- **git** is measured once per size (the consumer keeps every object, git's best "
        "case); its bytes moved are not measured. tarmac's uncached rows move the changed "
        "files only (the agent's own count of fetched bytes).",
        "- The tarmac rows include the server's whole rollback (policy, database commit, "
        "events) and the agent's long poll waking up.",
    ]
    return "\n".join(lines) + "\n"


def run_size(scratch: Path, store: ObjectStore, files: int, runs: int) -> list[Result]:
    a, b = trees(files)
    results: list[Result] = []
    for step in ("tarmac", "git", "usual", "exact"):
        began = time.monotonic()
        if step == "tarmac":
            got = tarmac(scratch, files, a, b, runs)
        elif step == "git":
            got = [git_sync(scratch, files, a, b, runs)]
        else:
            got = [object_store(scratch, store, files, a, b, runs, exact=step == "exact")]
        for r in got:
            median = statistics.median(r.seconds) * 1000
            log(
                f"{files} files, {r.name}: median {median:.1f} ms "
                f"({time.monotonic() - began:.0f} s)"
            )
        results += got
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--full", action="store_true", help="500 and 5,000 files, 20 rollbacks per scenario"
    )
    parser.add_argument("--write", type=Path, default=None, help="replace the section here")
    args = parser.parse_args()
    runs = 20 if args.full else args.runs
    sizes = [500, 5000] if args.full else args.sizes
    command = f"--sizes {' '.join(map(str, sizes))} --runs {runs}"
    results: list[Result] = []
    store = ObjectStore()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for files in sizes:
                scratch = Path(tmp) / str(files)
                scratch.mkdir()
                results += run_size(scratch, store, files, runs)
                shutil.rmtree(scratch, ignore_errors=True)
    finally:
        store.close()
    report = render(results, runs=runs, command=command)
    print(report)
    if args.write:
        write_section(args.write, report)


if __name__ == "__main__":
    main()
