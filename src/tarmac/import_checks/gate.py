"""The import gate's decision, a pure function of the reports, the setting and the override.

New errors are import errors in files that import cleanly (or do not exist) in the live
deploy: errors the live deploy already has do not block, so a Deployment with one broken
file can still ship the fix for another.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tarmac.errors import DagImportErrors
from tarmac.import_checks.checker import Skipped
from tarmac.import_checks.reports import ImportReport, errors_list


class DagImportCheck(StrEnum):
    """The per-Deployment setting ``dag_import_check``."""

    BLOCK = "block"
    WARN = "warn"
    OFF = "off"


class CheckStatus(StrEnum):
    PASSED = "passed"  # no new import errors
    ALLOWED = "allowed"  # new errors, let through by an admin's override
    WARNED = "warned"  # new errors, recorded live (warn mode)
    SKIPPED = "skipped"  # could not check; ``reason`` says why
    OFF = "off"  # the Deployment's setting
    INHERITED = "inherited"  # same bundle and Airflow as a checked deploy (rollbacks)


@dataclass(frozen=True)
class GateResult:
    """What is recorded on the deploy (``import_check``, ``dags``) and in its event."""

    status: CheckStatus
    mode: DagImportCheck
    airflow_version: str | None
    report: ImportReport | None = None
    new_errors: tuple[str, ...] = ()
    reason: str | None = None
    allow_import_errors: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "mode": self.mode.value,
            "airflow_version": self.airflow_version,
            "reason": self.reason,
            "allow_import_errors": self.allow_import_errors,
            "errors": errors_list(self.report.errors) if self.report else [],
            "new_errors": list(self.new_errors),
        }

    @property
    def dags(self) -> dict[str, str] | None:
        return dict(self.report.dags) if self.report else None


def decide(
    *,
    mode: DagImportCheck,
    checked: ImportReport | Skipped | None,
    baseline: ImportReport | None,
    allow_import_errors: bool,
) -> GateResult:
    """Pass, record, or raise ``DagImportErrors``; ``checked`` None means nothing to check."""
    if mode is DagImportCheck.OFF:
        return GateResult(status=CheckStatus.OFF, mode=mode, airflow_version=None)
    if checked is None:
        return GateResult(
            status=CheckStatus.SKIPPED, mode=mode, airflow_version=None, reason="no DAG bundle"
        )
    if isinstance(checked, Skipped):
        return GateResult(
            status=CheckStatus.SKIPPED,
            mode=mode,
            airflow_version=None,
            reason=checked.reason,
            allow_import_errors=allow_import_errors,
        )
    known = set(baseline.errors) if baseline else set()
    new = tuple(sorted(path for path in checked.errors if path not in known))
    result = GateResult(
        status=CheckStatus.PASSED,
        mode=mode,
        airflow_version=checked.airflow_version,
        report=checked,
        new_errors=new,
        allow_import_errors=allow_import_errors,
    )
    if not new:
        return result
    if allow_import_errors:
        return _with_status(result, CheckStatus.ALLOWED)
    if mode is DagImportCheck.WARN:
        return _with_status(result, CheckStatus.WARNED)
    raise DagImportErrors(
        f"{len(new)} DAG file(s) fail to import in Airflow {checked.airflow_version}: "
        + ", ".join(new)
        + "; nothing was deployed",
        airflow_version=checked.airflow_version,
        errors=errors_list({path: checked.errors[path] for path in new}),
        existing_errors=sorted(known & set(checked.errors)),
    )


def _with_status(result: GateResult, status: CheckStatus) -> GateResult:
    return GateResult(
        status=status,
        mode=result.mode,
        airflow_version=result.airflow_version,
        report=result.report,
        new_errors=result.new_errors,
        reason=result.reason,
        allow_import_errors=result.allow_import_errors,
    )
