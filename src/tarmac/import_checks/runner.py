"""Run the probe in an Airflow environment's interpreter: a subprocess with a timeout.

The child gets the Deployment's environment variables (secrets decrypted: DAG code that
reads ``os.environ[...]`` or ``Variable.get`` from an ``AIRFLOW_VAR_*`` at import is judged
as the runtime judges it), overlaid by a scratch ``AIRFLOW_HOME`` and SQLite database, and
none of the server's own environment (no ``TARMAC_*`` secrets reach DAG code). The values
are never logged nor written anywhere. Airflow's own per-file import
timeout turns a file that hangs at import into an import error of that file; the
overall timeout is the backstop for anything that ignores it.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from tarmac.import_checks.reports import ImportReport
from tarmac.local_runtime.environments import Environment

PROBE = Path(__file__).with_name("probe.py")
WHOLE_BUNDLE = "(whole bundle)"
"""The file name an error is listed under when the check could not finish at all."""


class ProbeFailed(Exception):
    """The probe could not report (Airflow itself broken, output unreadable)."""


def run_probe(
    environment: Environment,
    folder: Path,
    *,
    timeout_seconds: float,
    file_timeout_seconds: float,
    deployment_env: Mapping[str, str] | None = None,
) -> ImportReport:
    """Parse ``folder`` with ``environment``'s Airflow and report DAG ids and import errors.

    ``deployment_env``: the Deployment's environment variables, as its runtime gets them;
    what the probe needs to stay a probe (its home, database, timeouts) overrides them.
    """
    with tempfile.TemporaryDirectory(prefix="tarmac-import-check-") as scratch:
        env = {
            **(deployment_env or {}),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": scratch,
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "AIRFLOW_HOME": scratch,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": str(file_timeout_seconds),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{scratch}/airflow.db",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
        }
        try:
            result = subprocess.run(
                [str(environment.python), str(PROBE), str(folder)],
                env=env,
                cwd=scratch,
                capture_output=True,
                text=True,
                timeout=timeout_seconds,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired:
            return ImportReport(
                airflow_version=environment.airflow_version,
                errors={
                    WHOLE_BUNDLE: f"the import check did not finish within {timeout_seconds:g} s"
                    " (a DAG file hangs at import?)"
                },
                cacheable=False,
            )
    line = next((x for x in result.stdout.splitlines() if x.startswith("PROBE ")), None)
    if result.returncode != 0 or line is None:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-10:])
        raise ProbeFailed(f"Airflow {environment.airflow_version} probe failed: {tail}")
    data = json.loads(line.removeprefix("PROBE "))
    report = ImportReport.from_json({"airflow_version": environment.airflow_version, **data})
    timed_out = any("timeout" in text.lower() for text in report.errors.values())
    return ImportReport(
        airflow_version=report.airflow_version,
        dags=report.dags,
        errors=report.errors,
        cacheable=not timed_out,
    )
