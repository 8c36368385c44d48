"""Airflow CLI commands (``db migrate``, ``db downgrade``, …) run from an environment."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

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
) -> None:
    """Run ``airflow ARGS`` with ``env``; output appended to ``log_path``; raise on failure."""
    with log_path.open("ab") as out:
        out.write(f"\n$ airflow {' '.join(args)}\n".encode())
        out.flush()
        try:
            result = subprocess.run(
                environment.airflow_command(*args),
                env=_process_env(env),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
                cwd=cwd,
            )
        except subprocess.TimeoutExpired:
            raise RolloutFailed(f"{what} did not finish in {timeout:.0f} s") from None
    if result.returncode != 0:
        raise RolloutFailed(f"{what} failed (exit {result.returncode}): {_last_error(log_path)}")


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
