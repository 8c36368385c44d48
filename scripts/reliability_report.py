"""Run the reliability suite and write docs/reliability.md from what it did.

Every figure in the document comes from this run: the tests append what they did (once
their assertions passed) to a stats file (``tests/support/reliability_stats.py``), and
pytest's JUnit report gives the pass/fail totals. Runs on SQLite, and on PostgreSQL too
when ``TARMAC_TEST_POSTGRES_URL`` is set (then no test of the suite may skip for want of
it). Usage::

    TARMAC_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test \\
        python scripts/reliability_report.py [--out docs/reliability.md] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
    "tests/integration/test_deploy_in_use.py",
    "tests/e2e/test_deploy_crash.py",
    "tests/e2e/test_rollback_crash.py",
    "tests/e2e/test_crash_points.py",
    "tests/e2e/test_deploy_concurrency.py",
    "tests/e2e/test_rollback_concurrency.py",
    "tests/e2e/test_two_replicas.py",
    "tests/e2e/test_hostile_clients.py",
    "tests/e2e/test_slow_uploads.py",
]
# Needs PostgreSQL (and a moto S3 server): run only when PostgreSQL is there.
POSTGRES_ONLY = [
    "tests/e2e/test_s3_replicas.py::test_kill_during_upload_leaves_no_partial_or_missing_object",
]
FAILPOINT = re.compile(r"""\bfailpoint\(\s*["']([a-z0-9_]+)["']\s*\)""")
DATABASES = ("sqlite", "postgres")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "reliability.md")
    parser.add_argument("--workers", default="2", help="pytest-xdist workers (0: none)")
    args = parser.parse_args()
    commit = _commit()  # what is tested is the tree as the run starts
    postgres = bool(os.environ.get("TARMAC_TEST_POSTGRES_URL"))
    suite = SUITE + (POSTGRES_ONLY if postgres else [])
    with tempfile.TemporaryDirectory() as scratch:
        stats_path = Path(scratch) / "stats.jsonl"
        junit_path = Path(scratch) / "junit.xml"
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT / "src"),
            "TARMAC_RELIABILITY_STATS": str(stats_path),
        }
        if postgres:
            env["TARMAC_NO_SKIP"] = "1"  # a PostgreSQL test may not pass by skipping
        command = [sys.executable, "-m", "pytest", "-q", "-n", args.workers]
        # A temporary folder of its own: other pytest runs on the machine never prune it.
        command += [f"--basetemp={Path(scratch) / 'pytest'}", "-p", "no:cacheprovider"]
        command += [f"--junitxml={junit_path}", *suite]
        result = subprocess.run(command, cwd=ROOT, env=env, check=False)
        stats = (
            [json.loads(line) for line in stats_path.read_text().splitlines()]
            if stats_path.exists()
            else []
        )
        totals = _junit_totals(junit_path)
    document = _render(
        stats,
        totals,
        commit=commit,
        databases="SQLite and PostgreSQL" if postgres else "SQLite only",
        suite=suite,
        failpoints=_failpoints_in_source(),
    )
    args.out.write_text(document)
    print(f"wrote {args.out.relative_to(ROOT)}")
    return result.returncode


def _junit_totals(path: Path) -> dict[str, int]:
    totals = Counter[str]()
    for suite in ElementTree.parse(path).getroot().iter("testsuite"):
        for key in ("tests", "failures", "errors", "skipped"):
            totals[key] += int(suite.get(key, 0))
    return dict(totals)


def _failpoints_in_source() -> dict[str, str]:
    """Every named crash point in src/, and the file that holds it."""
    found = {}
    for path in sorted((ROOT / "src").rglob("*.py")):
        for name in FAILPOINT.findall(path.read_text()):
            found[name] = str(path.relative_to(ROOT / "src"))
    return found


def _tests_naming(failpoints: dict[str, str]) -> dict[str, list[str]]:
    """The test files that name each failpoint (arm it), in this suite or not."""
    sources = {
        str(path.relative_to(ROOT)): path.read_text()
        for path in (ROOT / "tests").rglob("test_*.py")
    }
    return {
        name: sorted(path for path, text in sources.items() if f'"{name}"' in text)
        for name in failpoints
    }


def _commit() -> str:
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return f"{head}{' (with uncommitted changes)' if dirty else ''}"


def _database(entry: dict[str, Any]) -> str:
    """sqlite or postgres, from the test's parameters (or what the test said)."""
    params = re.search(r"\[(.*)\]$", entry.get("test_id", ""))
    for name in DATABASES:
        if params and name in params.group(1).split("-"):
            return name
    return str(entry.get("database", "-"))


def _sum(entries: list[dict[str, Any]], key: str) -> int:
    return sum(int(e[key]) for e in entries)


def _per_db(entries: list[dict[str, Any]], count: Any) -> str:
    """``total (SQLite a, PostgreSQL b)`` for a figure measured on both databases."""
    split = {name: count([e for e in entries if _database(e) == name]) for name in DATABASES}
    return f"{count(entries)} (SQLite {split['sqlite']}, PostgreSQL {split['postgres']})"


def _render(
    stats: list[dict[str, Any]],
    totals: dict[str, int],
    *,
    commit: str,
    databases: str,
    suite: list[str],
    failpoints: dict[str, str],
) -> str:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for entry in stats:
        by_kind.setdefault(entry["kind"], []).append(entry)
    faults = by_kind.get("fault", [])
    fuzz = by_kind.get("fuzz", [])
    writers = by_kind.get("concurrent_writers", [])
    huge = by_kind.get("huge_body", [])
    slow = by_kind.get("slow_uploads", [])
    failed = totals.get("failures", 0) + totals.get("errors", 0)
    lost = "0" if failed == 0 and stats else f"not established: {failed} tests failed"
    growth = max((e["rss_growth_bytes"] for e in huge), default=0) / 2**20
    tokens = Counter[str]()
    for entry in fuzz:
        tokens.update(entry.get("by_token", {}))
    rows = [
        (
            "tests run / failed / skipped",
            f"{totals.get('tests', 0)} / {failed} / {totals.get('skipped', 0)}",
        ),
        (
            "hostile bundles tried (refused, nothing stored)",
            _per_db(by_kind.get("hostile_bundle", []), len),
        ),
        ("fuzzed requests sent (schemathesis)", _per_db(fuzz, lambda e: _sum(e, "requests"))),
        (
            "of which sent with an admin / viewer / bogus / no token",
            " / ".join(str(tokens[k]) for k in ("admin", "viewer", "bogus", "none")),
        ),
        (
            "API operations fuzzed (every one in /openapi.json)",
            max((e["operations"] for e in fuzz), default=0),
        ),
        (
            "fewest requests any operation got",
            min((e["fewest_per_operation"] for e in fuzz), default=0),
        ),
        ("of which refused with a documented 4xx, state unchanged", _sum(fuzz, "refused")),
        ("faults injected (kill -9 at a failpoint, then restart)", _per_db(faults, len)),
        (
            "failpoints in src/ / killed at in this run",
            f"{len(failpoints)} / {len({e['point'] for e in faults})}",
        ),
        ("concurrent writers (largest run)", max((e["writers"] for e in writers), default=0)),
        ("concurrent-writer runs", _per_db(writers, len)),
        ("300 MiB bodies refused", _per_db(huge, lambda e: _sum(e, "bodies"))),
        ("largest server RSS growth while refusing them", f"{growth:.1f} MiB"),
        (
            "slow uploads held in flight / refused at once",
            f"{_sum(slow, 'in_flight')} / {_sum(slow, 'refused')}",
        ),
        ("stalled bodies cut off", _per_db(by_kind.get("stalled_body", []), len)),
        ("**deploys or events lost or duplicated**", f"**{lost}**"),
    ]
    by_point: dict[str, list[dict[str, Any]]] = {}
    for entry in faults:
        by_point.setdefault(entry["point"], []).append(entry)
    point_lines = []
    named = _tests_naming(failpoints)
    for name, where in sorted(failpoints.items()):
        hits = by_point.get(name, [])
        scenarios = ", ".join(sorted({str(e["test"]) for e in hits})) or "**none in this run**"
        tests = ", ".join(f"`{path}`" for path in named[name]) or "**no test arms it**"
        point_lines.append(
            f"| `{name}` | `{where}` | {_per_db(hits, len)} | {scenarios} | {tests} |"
        )
    load = os.getloadavg()[0]
    lines = [
        "# Reliability",
        "",
        f"Written by `scripts/reliability_report.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"at commit {commit}, on {databases}; {os.cpu_count()} CPUs, load average {load:.1f}",
        "at the end. Nothing here is written by hand: each figure is what a test did after",
        "its assertions passed. Run it again with",
        "`TARMAC_TEST_POSTGRES_URL=… python scripts/reliability_report.py --workers 1`.",
        "",
        "| what | count |",
        "|---|---|",
        *[f"| {name} | {value} |" for name, value in rows],
        "",
        "## Faults injected, by failpoint",
        "",
        'Every `failpoint("…")` in `src/`: the process is killed with SIGKILL there,',
        "restarted, and checked. The last column lists every test file that arms the point,",
        "in this suite or not (the `runtime_*` points belong to the runtime side, whose",
        "tests need a real Airflow and are not part of this suite).",
        "",
        "| failpoint | where | kills in this run | scenarios | armed by |",
        "|---|---|---|---|---|",
        *point_lines,
        "",
        "## What is checked",
        "",
        "After each fault, race or attack the tests assert that the Deployment is on one",
        "consistent code state (records, runtime spec and live files agree), that no deploy",
        'or event is missing or doubled, and that refused requests changed nothing. "Lost"',
        "is 0 only when every one of these tests passed:",
        "",
        *[f"- `{path}`" for path in suite],
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
