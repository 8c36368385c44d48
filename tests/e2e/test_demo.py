"""`tarmac demo`, the README's first command, started as a user would: from a folder."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx


def test_demo_starts_seeds_and_serves(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tarmac", "demo"],  # default, relative --data-dir
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "PYTHONPATH": str(Path.cwd() / "src")},
    )
    try:
        assert process.stdout is not None
        output = ""
        deadline = time.monotonic() + 60
        while "Press Ctrl+C" not in output and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            output += line
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
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
