"""Run the reliability suite and write docs/reliability.md from what it did.

Every figure in the document comes from this run: the tests append what they did (once
their assertions passed) to a stats file (``tests/support/reliability_stats.py``), and
pytest's JUnit report gives the pass/fail totals. Runs on SQLite, and on PostgreSQL too
when ``TARMAC_TEST_POSTGRES_URL`` is set. Usage::

    TARMAC_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test \\
        python scripts/reliability_report.py [--out docs/reliability.md] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SUITE = [
    "tests/integration/test_bundle_uploads.py",
    "tests/integration/test_multipart_and_blobs.py",
    "tests/integration/test_idempotency_keys.py",
    "tests/integration/test_api_fuzz.py",
    "tests/integration/test_cleanup_rollback_race.py",
    "tests/e2e/test_deploy_crash.py",
    "tests/e2e/test_rollback_crash.py",
    "tests/e2e/test_crash_points.py",
    "tests/e2e/test_deploy_concurrency.py",
    "tests/e2e/test_rollback_concurrency.py",
    "tests/e2e/test_two_replicas.py",
    "tests/e2e/test_hostile_clients.py",
    "tests/e2e/test_slow_uploads.py",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "reliability.md")
    parser.add_argument("--workers", default="2", help="pytest-xdist workers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        stats_path = Path(scratch) / "stats.jsonl"
        junit_path = Path(scratch) / "junit.xml"
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT / "src"),
            "TARMAC_RELIABILITY_STATS": str(stats_path),
        }
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-n",
            args.workers,
            "-p",
            "no:cacheprovider",
        ]
        command += [f"--junitxml={junit_path}", *SUITE]
        result = subprocess.run(command, cwd=ROOT, env=env, check=False)
        stats = (
            [json.loads(line) for line in stats_path.read_text().splitlines()]
            if stats_path.exists()
            else []
        )
        totals = _junit_totals(junit_path)
    document = _render(stats, totals, databases=_databases())
    args.out.write_text(document)
    print(f"wrote {args.out.relative_to(ROOT)}")
    return result.returncode


def _junit_totals(path: Path) -> dict[str, int]:
    totals = Counter[str]()
    for suite in ElementTree.parse(path).getroot().iter("testsuite"):
        for key in ("tests", "failures", "errors", "skipped"):
            totals[key] += int(suite.get(key, 0))
    return dict(totals)


def _databases() -> str:
    return "SQLite and PostgreSQL" if os.environ.get("TARMAC_TEST_POSTGRES_URL") else "SQLite only"


def _commit() -> str:
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return f"{head}{' (with uncommitted changes)' if dirty else ''}"


def _sum(entries: list[dict[str, Any]], key: str) -> int:
    return sum(int(e[key]) for e in entries)


def _render(stats: list[dict[str, Any]], totals: dict[str, int], *, databases: str) -> str:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for entry in stats:
        by_kind.setdefault(entry["kind"], []).append(entry)
    faults = Counter(f"{e['test']} at `{e['point']}`" for e in by_kind.get("fault", []))
    fuzz = by_kind.get("fuzz", [])
    writers = by_kind.get("concurrent_writers", [])
    huge = by_kind.get("huge_body", [])
    failed = totals.get("failures", 0) + totals.get("errors", 0)
    lost = "0" if failed == 0 else f"not established: {failed} tests failed"
    slow = by_kind.get("slow_uploads", [])
    growth = max((e["rss_growth_bytes"] for e in huge), default=0) / 2**20
    rows = [
        (
            "tests run / failed / skipped",
            f"{totals.get('tests', 0)} / {failed} / {totals.get('skipped', 0)}",
        ),
        ("hostile bundles tried (refused, nothing stored)", len(by_kind.get("hostile_bundle", []))),
        (f"fuzzed requests sent (schemathesis, {len(fuzz)} runs)", _sum(fuzz, "requests")),
        ("of which refused with a documented 4xx, state unchanged", _sum(fuzz, "refused")),
        ("faults injected (kill -9 at a failpoint, then restart)", sum(faults.values())),
        ("concurrent writers (largest run)", max((e["writers"] for e in writers), default=0)),
        ("concurrent-writer runs", len(writers)),
        ("300 MiB bodies refused", _sum(huge, "bodies")),
        ("largest server RSS growth while refusing them", f"{growth:.1f} MiB"),
        (
            "slow uploads held in flight / refused at once",
            f"{_sum(slow, 'in_flight')} / {_sum(slow, 'refused')}",
        ),
        ("stalled bodies cut off", len(by_kind.get("stalled_body", []))),
        ("**deploys or events lost or duplicated**", f"**{lost}**"),
    ]
    lines = [
        "# Reliability",
        "",
        f"Written by `scripts/reliability_report.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"at commit {_commit()}, on {databases}. Nothing here is written by hand.",
        "",
        "| what | count |",
        "|---|---|",
        *[f"| {name} | {value} |" for name, value in rows],
        "",
        "Faults injected, by point:",
        "",
        *[f"- {name}: {count}" for name, count in sorted(faults.items())],
        "",
        "Each test asserts after its fault, race or attack that the Deployment is on one",
        "consistent code state (records, runtime spec and live files agree), that no deploy",
        'or event is missing or doubled, and that refused requests changed nothing; "lost"',
        "is 0 only when every one of them passed.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
