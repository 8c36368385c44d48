"""Airflow CLI commands (``db migrate``, ``db downgrade``, …) run from an environment."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
from pathlib import Path

from tarmac.failpoints import failpoint
from tarmac.local_runtime.environments import Environment


class RolloutFailed(Exception):
    """A step failed; the message says which and why."""


def run_airflow(
    environment: Environment,
    *args: str,
    env: dict[str, str],
    log_path: Path,
    what: str,
    timeout: float,
    cwd: Path,
    record: Path | None = None,
) -> None:
    """Run ``airflow ARGS`` with ``env``; output appended to ``log_path``; raise on failure.

    The command runs in a process group of its own, recorded in ``record`` while it runs
    (as the Supervisor records a component): a runtime side killed meanwhile leaves the
    command running, and the next one stops that group before it restores a snapshot
    underneath it.
    """
    with log_path.open("ab") as out:
        out.write(f"\n$ airflow {' '.join(args)}\n".encode())
        out.flush()
        process = subprocess.Popen(
            environment.airflow_command(*args),
            env=_process_env(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            start_new_session=True,
        )
    try:
        if record is not None:
            _record_group(record, process.pid, what)
        if args[:2] == ("db", "downgrade"):
            failpoint("runtime_during_db_downgrade")  # Airflow's downgrade under way
        elif args[:2] == ("db", "migrate"):
            failpoint("runtime_during_db_migrate")
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise RolloutFailed(f"{what} did not finish in {timeout:.0f} s") from None
    finally:
        if process.poll() is None:  # interrupted here: the command must not outlive us
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if record is not None:
            record.unlink(missing_ok=True)
    if returncode != 0:
        raise RolloutFailed(f"{what} failed (exit {returncode}): {_last_error(log_path)}")


def _record_group(path: Path, pid: int, what: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({"pid": pid, "pgid": pid, "command": what}))
    os.replace(tmp, path)


def _process_env(env: dict[str, str]) -> dict[str, str]:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}
    return {**base, **env}


def _last_error(log_path: Path) -> str:
    """The exception line of the command's traceback (``…Error: what``), else its last line."""
    lines = log_path.read_text(errors="replace").splitlines()[-200:]
    raised = [line.strip() for line in lines if _EXCEPTION_LINE.match(line.strip())]
    if raised:
        return raised[-1][:1500]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors[-1] if errors else (lines[-1] if lines else "no output"))[:1500]


_EXCEPTION_LINE = re.compile(r"^[\w.]*(Error|Exception)(: |\b)")
