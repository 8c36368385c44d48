"""Which runtime reports say that a deploy failed its health (automatic rollback's input).

- a failed rollout (the runtime side could not switch, and restored the previous deploy);
- new DAG import errors: files of the reached deploy that Airflow fails to import and
  that imported (or did not exist) before the switch; the import gate let them through
  because it only warns (``dag_import_check=warn``), was off, or could not check;
- components unhealthy: the reached deploy's components reported unhealthy without a
  break for ``UNHEALTHY_GRACE`` (one bad heartbeat on a busy host is not a failure).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tarmac.rollouts.schemas import RolloutState, RuntimeReport

SHOWN_FILES = 5
UNHEALTHY_GRACE = timedelta(seconds=120)


@dataclass(frozen=True)
class FailureSignal:
    deploy_id: str
    reason: str
    import_errors: bool = False


def failure_signal(
    report: RuntimeReport, *, unhealthy_since: datetime | None = None, now: datetime | None = None
) -> FailureSignal | None:
    """The deploy a report says failed its health, and why; None for a healthy report.

    ``unhealthy_since``: since when the stored status has seen its components unhealthy.
    """
    if report.state is RolloutState.FAILED and report.rollout_deploy_id:
        return FailureSignal(report.rollout_deploy_id, report.error or "its runtime rollout failed")
    new = [e for e in report.import_errors or [] if e.new]
    if report.state is RolloutState.RUNNING and report.reached_deploy_id and new:
        where = f" in Airflow {report.airflow_version}" if report.airflow_version else ""
        files = "; ".join(f"{e.file}: {_last_line(e.error)}" for e in new[:SHOWN_FILES])
        more = f" (and {len(new) - SHOWN_FILES} more)" if len(new) > SHOWN_FILES else ""
        return FailureSignal(
            report.reached_deploy_id,
            f"{len(new)} new DAG import error(s){where}: {files}{more}",
            import_errors=True,
        )
    sick = sorted(c.name for c in report.components if not c.healthy)
    if (
        report.state is RolloutState.RUNNING
        and report.reached_deploy_id
        and sick
        and unhealthy_since is not None
        and now is not None
        and now - unhealthy_since >= UNHEALTHY_GRACE
    ):
        seconds = int((now - unhealthy_since).total_seconds())
        return FailureSignal(
            report.reached_deploy_id,
            f"components unhealthy for {seconds} s (since {unhealthy_since:%H:%M:%S} UTC): "
            + ", ".join(sick),
        )
    return None


def _last_line(error: str) -> str:
    lines = [line.strip() for line in error.splitlines() if line.strip()]
    return lines[-1] if lines else "import failed"
