"""An ``airflow db …`` command is a recorded process group, and a failpoint can cut it off.

A stand-in ``airflow`` module (a script that sleeps) is enough: what is tested is the
process handling, not Airflow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tarmac.local_runtime.airflow_commands import RolloutFailed, run_airflow
from tarmac.local_runtime.components import Supervisor
from tarmac.local_runtime.environments import Environment
from tarmac.local_runtime.layout import RuntimeHome

SLOW_AIRFLOW = """
import sys, time
print("Running downgrade", sys.argv[1:], flush=True)
time.sleep(float(sys.argv[-1]) if sys.argv[-1].replace(".", "").isdigit() else 0)
sys.exit(3 if "fail" in sys.argv else 0)
"""


def fake_environment(tmp_path: Path) -> tuple[Environment, dict[str, str]]:
    package = tmp_path / "site" / "airflow"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(SLOW_AIRFLOW)
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    return Environment(venv, "digest", "3.1.8"), {"PYTHONPATH": str(tmp_path / "site")}


def test_the_command_is_recorded_while_it_runs_and_forgotten_after(tmp_path: Path) -> None:
    environment, env = fake_environment(tmp_path)
    home = RuntimeHome(tmp_path / "home")
    home.prepare()
    run_airflow(
        environment,
        *("db", "downgrade", "0"),
        env=env,
        log_path=home.component_log("migrations"),
        what="airflow db downgrade",
        timeout=60,
        cwd=tmp_path,
        record=home.command_record,
    )
    assert "Running downgrade" in home.component_log("migrations").read_text()
    assert not home.command_record.exists()
    with pytest.raises(RolloutFailed, match=r"airflow db downgrade failed \(exit 3\)"):
        run_airflow(
            environment,
            *("db", "downgrade", "fail"),
            env=env,
            log_path=home.component_log("migrations"),
            what="airflow db downgrade",
            timeout=60,
            cwd=tmp_path,
            record=home.command_record,
        )


def test_a_command_orphaned_by_kill_9_is_stopped_by_the_next_supervisor(tmp_path: Path) -> None:
    """kill -9 at the failpoint while the command runs: it outlives its parent, recorded
    under ``run/``; a Supervisor of the same home stops it (as a restart's recovery does)."""
    environment, env = fake_environment(tmp_path)
    home = RuntimeHome(tmp_path / "home")
    home.prepare()
    armed = tmp_path / "failpoints"
    armed.write_text("runtime_during_db_downgrade")
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from tarmac.local_runtime.airflow_commands import run_airflow
        from tarmac.local_runtime.environments import Environment
        run_airflow(
            Environment(Path({str(environment.path)!r}), "digest", "3.1.8"),
            "db", "downgrade", "300",
            env={env!r},
            log_path=Path({str(home.component_log("migrations"))!r}),
            what="airflow db downgrade", timeout=600, cwd=Path({str(tmp_path)!r}),
            record=Path({str(home.command_record)!r}),
        )
        """
    )
    parent = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "TARMAC_FAILPOINTS_FILE": str(armed)},
        timeout=60,
    )
    assert parent.returncode == -9
    orphan = json.loads(home.command_record.read_text())["pgid"]
    assert _running(orphan)

    Supervisor(home, stop_timeout_seconds=10).stop_all()
    deadline = time.monotonic() + 30
    while _running(orphan) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(orphan)
    assert not home.command_record.exists()


def test_a_failpoint_named_in_the_file_kills_and_other_names_do_not(tmp_path: Path) -> None:
    armed = tmp_path / "failpoints"
    armed.write_text("some_other_point, runtime_after_stop\n")
    env = {**os.environ, "TARMAC_FAILPOINTS_FILE": str(armed)}
    code = "from tarmac.failpoints import failpoint; failpoint({!r}); print('alive')"
    died = subprocess.run([sys.executable, "-c", code.format("runtime_after_stop")], env=env)
    assert died.returncode == -9
    lived = subprocess.run(
        [sys.executable, "-c", code.format("runtime_after_snapshot")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert lived.returncode == 0 and lived.stdout.strip() == "alive"


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
