"""Server time of one rollback request as the bundle grows from 50 to 5,000 files.

For each size, one Deployment holds two real DAG_ONLY deploys of that many files (10 %
of the files differ between them); the script then rolls back to whichever is not live,
again and again, interleaving the sizes round-robin so machine noise hits them alike. The
clock runs inside the server (ASGI call to the last body byte; no network, no client).
The dry-run plan (what the API, UI and CLI show, with the file diff) is timed the same way.

    .venv/bin/python bench/rollback_request.py [--sizes 50 500 5000] [--runs 100]
        [--database-url URL] [--write docs/benchmarks.md]

The issue's bar: the p50 at 5,000 files within 1.5x of the p50 at 50 files.
"""

from __future__ import annotations

import argparse
import io
import platform
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.ui_render import TOKEN, VALUES, Timed, write_section  # noqa: E402

from tarmac.api.app import create_app  # noqa: E402
from tarmac.settings import load_settings  # noqa: E402

HEADING = "## Rollback request"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def tree(files: int, version: int) -> dict[str, bytes]:
    """``files`` DAG files; version v changes a different 10 % of them than v - 1."""
    rng = random.Random(files)
    contents = {f"dags/team_{i % 20:02d}/dag_{i:05d}.py": rng.randbytes(200) for i in range(files)}
    changed = sorted(contents)[version % 10 :: 10]
    for path in changed:
        contents[path] = contents[path] + f"# v{version}\n".encode()
    return contents


def pack(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class Subject:
    files: int
    deployment_id: str
    deploy_ids: list[str]
    live: int = 1
    rollbacks: list[float] | None = None
    plans: list[float] | None = None


def make_subject(client: TestClient, files: int) -> Subject:
    dep = client.post(
        "/api/v1/deployments",
        headers=AUTH,
        json={
            "name": f"bench-{files}",
            "runtime_version": "12.4.0",
            "dag_deploy_mode": "dag_deploy",
        },
    ).json()
    client.patch(f"/api/v1/deployments/{dep['id']}", headers=AUTH, json={"rollback_enabled": True})
    ids = []
    for version in range(2):
        response = client.post(
            f"/api/v1/deployments/{dep['id']}/deploys",
            headers=AUTH,
            data={"type": "DAG_ONLY", "description": f"v{version}"},
            files={"dags": ("d.tar.gz", pack(tree(files, version)), "application/gzip")},
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return Subject(files, dep["id"], ids, rollbacks=[], plans=[])


def rollback(client: TestClient, timed: Timed, subject: Subject, *, dry_run: bool) -> float:
    target = subject.deploy_ids[1 - subject.live]
    response = client.post(
        f"/api/v1/deployments/{subject.deployment_id}/deploys/{target}/rollback",
        headers=AUTH,
        json={"description": "bench", "dry_run": dry_run},
    )
    assert response.status_code in (200, 201), response.text[:500]
    if not dry_run:
        subject.live = 1 - subject.live
    return timed.last * 1000


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def commit() -> str:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    return out.stdout.strip() or "unknown"


def render(subjects: list[Subject], *, runs: int, database: str) -> str:
    base = statistics.median(subjects[0].rollbacks or [0.0])
    lines = [
        HEADING,
        "",
        f"`bench/rollback_request.py`: server time of `POST .../rollback` (ASGI call to last "
        f"body byte), {runs} rollbacks per size after 3 warm-up ones, sizes interleaved; "
        f"{database}, Python {platform.python_version()} on {platform.machine()}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit()}. Each size is one "
        "Deployment with two DAG_ONLY deploys (200-byte files, 10 % differ) rolled back to "
        "each other in turn. The dry run returns the plan with the file diff.",
        "",
        "| files | rollback p50 ms | rollback p99 ms | p50 ÷ p50 at "
        f"{subjects[0].files} | dry-run p50 ms | dry-run p99 ms |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for s in subjects:
        r, d = s.rollbacks or [0.0], s.plans or [0.0]
        lines.append(
            f"| {s.files:,} | {statistics.median(r):.1f} | {p99(r):.1f} | "
            f"{statistics.median(r) / base:.2f} | {statistics.median(d):.1f} | {p99(d):.1f} |"
        )
    last = subjects[-1]
    ratio = statistics.median(last.rollbacks or [0.0]) / base
    verdict = "met" if ratio <= 1.5 else "NOT met"
    lines += [
        "",
        f"Bar (p50 at {last.files:,} files within 1.5x of {subjects[0].files}): {verdict} "
        f"({ratio:.2f}x). A rollback loads no manifest: only the dry run computes the file "
        "diff, and parsed manifests and diffs are cached by the bundles' digests.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 500, 5000])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--write", type=Path, default=None, help="replace the section here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        (data_dir / "values.yaml").write_text(VALUES)
        settings = load_settings(
            data_dir=data_dir,
            database_url=args.database_url,
            values_file=data_dir / "values.yaml",
            bootstrap_token=TOKEN,
            secret_key="bench",
        )
        app = create_app(settings)
        timed = Timed(app)
        with TestClient(timed) as client:
            subjects = [make_subject(client, files) for files in args.sizes]
            for _ in range(3):
                for s in subjects:
                    rollback(client, timed, s, dry_run=True)
                    rollback(client, timed, s, dry_run=False)
            for _ in range(args.runs):
                for s in subjects:
                    assert s.rollbacks is not None and s.plans is not None
                    s.plans.append(rollback(client, timed, s, dry_run=True))
                    s.rollbacks.append(rollback(client, timed, s, dry_run=False))
    report = render(
        subjects, runs=args.runs, database="PostgreSQL" if args.database_url else "SQLite"
    )
    print(report)
    if args.write:
        write_section(args.write, report)


if __name__ == "__main__":
    main()
