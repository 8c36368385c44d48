"""Which bundle versions Airflow's DAG runs still need, renewed while they run.

A task reports its version in use when it starts (``TarmacDagBundle.initialize``), but a
run can outlast that report: a long task, or a run still queued. So the DAG processor's
bundle, at each refresh, also asks Airflow's metadata database which runs of this bundle
are queued or running and renews each one's version at tarmac. Once a run ends its version
is no longer renewed, and cleanup may delete it when the last report runs out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from tarmac.agent.client import AgentRejected, ServerUnavailable

log = logging.getLogger(__name__)


def versions_of_unfinished_runs(bundle_name: str) -> set[str]:
    """Bundle versions of the queued or running DAG runs of ``bundle_name`` (Airflow's DB)."""
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    query = (
        select(DagRun.bundle_version)
        .distinct()
        .join(DagModel, DagModel.dag_id == DagRun.dag_id)
        .where(
            DagModel.bundle_name == bundle_name,
            DagRun.state.in_([DagRunState.QUEUED, DagRunState.RUNNING]),
            DagRun.bundle_version.is_not(None),
        )
    )
    with create_session(scoped=False) as session:  # see parse_requests.py: not Airflow's own
        return {str(version) for version in session.scalars(query)}


class InUseRenewer:
    """Renews each version a run still needs, a third of the way into its report."""

    def __init__(
        self,
        *,
        seconds: int,
        find: Callable[[], set[str]],
        report: Callable[[str, int], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self._find = find
        self._report = report
        self._clock = clock
        self._every = seconds / 3
        self._reported: dict[str, float] = {}
        self._asked_at: float | None = None

    def renew(self) -> None:
        """Ask Airflow at most every few seconds; report what is due. Never raises."""
        now = self._clock()
        if self._asked_at is not None and now - self._asked_at < min(10.0, self._every):
            return
        self._asked_at = now
        try:
            wanted = self._find()
        except Exception:  # the DAG processor must keep refreshing whatever Airflow says
            log.warning("could not ask Airflow which bundle versions runs use", exc_info=True)
            return
        self._reported = {v: at for v, at in self._reported.items() if v in wanted}
        for version in sorted(wanted):
            last = self._reported.get(version)
            if last is not None and now - last < self._every:
                continue
            try:
                self._report(version, self.seconds)
            except (ServerUnavailable, AgentRejected) as exc:  # retried at the next refresh
                log.warning("could not report bundle version %s in use: %s", version, exc)
                continue
            self._reported[version] = now
