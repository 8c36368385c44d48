"""`tarmac demo`, the README's first command, started as a user would: from a folder."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
ENV = {"PATH": "/usr/bin:/bin", "COLUMNS": "60", "PYTHONPATH": str(REPO / "src")}


@contextmanager
def running_demo(folder: Path) -> Iterator[str]:
    """``tarmac demo`` with its default, relative --data-dir; yields what it printed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tarmac", "demo"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=ENV,
    )
    try:
        assert process.stdout is not None
        output = ""
        deadline = time.monotonic() + 90
        while "Press Ctrl+C" not in output and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            output += line
        yield output
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def test_demo_starts_seeds_and_serves(tmp_path: Path) -> None:
    with running_demo(tmp_path) as output:
        url = re.search(r"http://127\.0\.0\.1:\d+", output)
        assert url, output
        token = (tmp_path / "tarmac-demo" / "demo-admin-token").read_text().strip()
        with httpx.Client(base_url=url[0], headers={"Authorization": f"Bearer {token}"}) as api:
            deployments = api.get("/api/v1/deployments").json()["items"]
            assert [d["name"] for d in deployments] == ["Sales ETL"]
            assert deployments[0]["rollback_enabled"] is True
            history = api.get(f"/api/v1/deployments/{deployments[0]['id']}/deploys").json()
            assert [d["seq"] for d in history["items"]] == [3, 2, 1]
            plan = api.post(
                f"/api/v1/deployments/{deployments[0]['id']}/deploys/1/rollback",
                json={"dry_run": True},
            ).json()["plan"]
            assert plan["rolled_back"]["runtime_version"]["direction"] == "downgrade"
            assert api.get("/ui/login").status_code == 200
        assert "demo-password" in output


def test_the_printed_cli_line_works_from_any_folder_and_survives_a_rerun(
    tmp_path: Path,
) -> None:
    with running_demo(tmp_path) as first:
        source = re.search(r"^\s+(source \S+)$", first, re.MULTILINE)
        assert source, first  # one line, not wrapped in the middle of a path (COLUMNS=60)
        assert str(tmp_path / "tarmac-demo") in source[1]  # absolute
        first_url = re.search(r"http://127\.0\.0\.1:\d+", first)
    with running_demo(tmp_path) as second:
        second_url = re.search(r"http://127\.0\.0\.1:\d+", second)
        assert first_url and second_url and first_url[0] == second_url[0]
        # A fresh shell elsewhere, no tarmac on its PATH: paste the line, run the README's.
        listed = subprocess.run(
            ["bash", "-c", f"{source[1]} && tarmac deploys list 'Sales ETL' -o json"],
            cwd="/",
            capture_output=True,
            text=True,
            timeout=120,
            env=ENV,
        )
        assert listed.returncode == 0, listed.stderr
        assert [d["seq"] for d in json.loads(listed.stdout)["items"]] == [3, 2, 1]


def test_the_demo_data_folder_is_ignored_by_git() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "tarmac-demo/demo-admin-token"], cwd=REPO, timeout=30
    )
    assert ignored.returncode == 0
