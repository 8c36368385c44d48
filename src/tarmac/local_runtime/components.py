"""Supervised Airflow components: started from one environment, stopped cleanly, never orphaned.

Each component runs in a process group of its own (Airflow forks workers and
sub-processes), started through a tiny launcher that writes, from inside the running
process, the Airflow version it really imported. ``run/<name>.json`` records the group
(as ``run_airflow`` records an ``airflow db …`` command while it runs), so a runtime side
restarted after ``kill -9`` stops what the previous one left running.
Secrets reach components through their environment only, never their command line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tarmac.local_runtime.airflow_settings import component_arguments
from tarmac.local_runtime.environments import Environment
from tarmac.local_runtime.layout import RuntimeHome

log = logging.getLogger(__name__)

LAUNCHER = (
    "import json, os, sys, airflow\n"
    "info = {'pid': os.getpid(), 'airflow_version': airflow.__version__, 'prefix': sys.prefix}\n"
    "path = os.environ['TARMAC_COMPONENT_INFO']\n"
    "open(path + '.tmp', 'w').write(json.dumps(info)); os.replace(path + '.tmp', path)\n"
    "from airflow.__main__ import main\n"
    "sys.argv = ['airflow', *sys.argv[1:]]\n"
    "sys.exit(main())\n"
)


@dataclass(frozen=True)
class RunningComponent:
    name: str
    pid: int
    airflow_version: str | None


class Supervisor:
    """Starts and stops one Deployment's Airflow components on this host."""

    def __init__(self, home: RuntimeHome, *, stop_timeout_seconds: float = 30.0) -> None:
        self.home = home
        self.stop_timeout_seconds = stop_timeout_seconds
        self._processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self,
        names: tuple[str, ...],
        *,
        environment: Environment,
        env: dict[str, str],
        web_port: int,
    ) -> None:
        """Start ``names`` from ``environment``; their output goes to ``logs/<name>.log``."""
        self.home.prepare()
        for name in names:
            info = self.home.run / f"{name}.info.json"
            info.unlink(missing_ok=True)
            log_file = self.home.component_log(name).open("ab")
            process_env = {
                "PATH": f"{environment.path / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                "HOME": os.environ.get("HOME", str(self.home.root)),
                "LANG": os.environ.get("LANG", "C.UTF-8"),
                **env,
                "TARMAC_COMPONENT_INFO": str(info),
            }
            command = [
                str(environment.python),
                "-c",
                LAUNCHER,
                *component_arguments(name, web_port=web_port),
            ]
            process = subprocess.Popen(
                command,
                env=process_env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.home.airflow_home,
                start_new_session=True,
            )
            log_file.close()
            self._processes[name] = process
            _write_json(
                self.home.run / f"{name}.json",
                {"pid": process.pid, "pgid": process.pid, "env": environment.digest},
            )
            log.info(
                "started %s (pid %s) from environment %s",
                name,
                process.pid,
                environment.digest[:12],
            )

    def running(self) -> list[RunningComponent]:
        """The components started by this supervisor and still alive."""
        alive = []
        for name, process in self._processes.items():
            if process.poll() is None:
                alive.append(RunningComponent(name, process.pid, self.reported_version(name)))
        return alive

    def exited(self) -> dict[str, int]:
        """Components that died since they were started, with their exit codes."""
        return {
            name: code
            for name, process in self._processes.items()
            if (code := process.poll()) is not None
        }

    def names(self) -> list[str]:
        return list(self._processes)

    def reported_version(self, name: str) -> str | None:
        """The Airflow version the running component imported (written by the launcher)."""
        try:
            data = json.loads((self.home.run / f"{name}.info.json").read_text())
        except (OSError, ValueError):
            return None
        version = data.get("airflow_version")
        return str(version) if version else None

    def stop_all(self) -> None:
        """SIGTERM every component's group, wait a bounded time, then SIGKILL what is left."""
        groups = {name: p.pid for name, p in self._processes.items()}
        for name, pgid in self._recorded_groups().items():
            if name not in groups and _group_alive(pgid):
                log.warning("stopping %s (process group %s), left running earlier", name, pgid)
            groups[name] = pgid
        for pgid in groups.values():
            _signal_group(pgid, signal.SIGTERM)
            _signal_group(pgid, signal.SIGCONT)  # a stopped process acts on SIGTERM only then
        deadline = time.monotonic() + self.stop_timeout_seconds
        while time.monotonic() < deadline and any(_group_alive(g) for g in groups.values()):
            for process in self._processes.values():
                with contextlib.suppress(Exception):
                    process.poll()
            time.sleep(0.2)
        for name, pgid in groups.items():
            if _group_alive(pgid):
                log.warning(
                    "%s did not stop in %.0f s: killing it", name, self.stop_timeout_seconds
                )
                _signal_group(pgid, signal.SIGKILL)
        for process in self._processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        self._processes.clear()
        for path in self.home.run.glob("*.json"):
            path.unlink(missing_ok=True)

    def _recorded_groups(self) -> dict[str, int]:
        """Groups a previous runtime side recorded (it may have died without stopping them)."""
        groups = {}
        for path in self.home.run.glob("*.json") if self.home.run.exists() else []:
            if path.name.endswith(".info.json"):
                continue
            try:
                groups[path.stem] = int(json.loads(path.read_text())["pgid"])
            except (OSError, ValueError, KeyError):
                continue
        return groups


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    # A zombie leader still "exists"; count the group as gone once only zombies remain.
    return _has_live_member(pgid)


def _has_live_member(pgid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            return True
    return False


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)
