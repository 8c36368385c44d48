"""The daily cleanup: a background thread per server, one run per day across replicas.

Like Houston's ``cleanupDeployRevisions`` cron job (``11 23 * * *``, UTC). Every
replica wakes at that time and tries to take the ``cleanup-deploy-revisions`` lease;
the one that gets it runs the cleanup, renewing the lease after every batch, and then
keeps the lease until shortly before the next run so that a replica whose clock is a
little behind does not run it a second time the same day.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tarmac.cleanup.lease import acquire_lease, release_lease, renew_lease
from tarmac.cleanup.runner import run_cleanup
from tarmac.cleanup.service import CleanupReport
from tarmac.db.base import utcnow
from tarmac.db.unit_of_work import Database
from tarmac.installation.context import Installation

log = logging.getLogger(__name__)

LEASE_NAME = "cleanup-deploy-revisions"
LEASE_SECONDS = 600.0
HOUSTON_CRON = "11 23 * * *"
_MAX_SLEEP_SECONDS = 60.0  # wake now and then, so a changed wall clock is noticed


class CleanupInterrupted(Exception):
    """The run stopped between batches: the server is stopping, or the lease was lost."""


@dataclass(frozen=True)
class DailyAt:
    """A daily time in UTC, from a cron expression of the form ``M H * * *``."""

    hour: int
    minute: int

    @classmethod
    def from_cron(cls, expression: str) -> DailyAt:
        fields = expression.split()
        if len(fields) != 5 or fields[2:] != ["*", "*", "*"]:
            raise ValueError(f"only daily cron expressions 'M H * * *' are supported: {expression}")
        minute, hour = int(fields[0]), int(fields[1])
        if not (0 <= minute < 60 and 0 <= hour < 24):
            raise ValueError(f"minute or hour out of range: {expression}")
        return cls(hour=hour, minute=minute)

    def next_after(self, moment: datetime) -> datetime:
        """The first run strictly after ``moment`` (an aware datetime)."""
        moment = moment.astimezone(UTC)
        candidate = moment.replace(hour=self.hour, minute=self.minute, second=0, microsecond=0)
        return candidate if candidate > moment else candidate + timedelta(days=1)


class CleanupScheduler:
    """Runs ``run`` at every ``schedule`` time while holding the lease; stop() ends it."""

    def __init__(
        self,
        *,
        database: Database,
        run: Callable[[Callable[[], None]], CleanupReport],
        schedule: DailyAt,
        holder: str,
        clock: Callable[[], datetime] = utcnow,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self._database = database
        self._run = run
        self._schedule = schedule
        self._holder = holder
        self._clock = clock
        self._lease = timedelta(seconds=lease_seconds)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="tarmac-cleanup", daemon=True)
        self._thread.start()

    def stop(self, *, timeout: float = 30.0) -> None:
        """Ask the thread to stop (a run ends after its current batch) and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_once(self, *, due: datetime) -> CleanupReport | None:
        """Run now if this replica gets the lease; None if another one has it."""
        now = self._clock()
        if not acquire_lease(
            self._database, name=LEASE_NAME, holder=self._holder, until=now + self._lease, now=now
        ):
            log.info("cleanup of %s: another replica holds the lease", due.isoformat())
            return None
        try:
            report = self._run(self._renew)
        except BaseException:
            release_lease(self._database, name=LEASE_NAME, holder=self._holder, now=self._clock())
            raise
        hold_until = self._schedule.next_after(due) - timedelta(hours=1)
        renew_lease(self._database, name=LEASE_NAME, holder=self._holder, until=hold_until)
        return report

    def _renew(self) -> None:
        if self._stop.is_set():
            raise CleanupInterrupted("the server is stopping")
        until = self._clock() + self._lease
        if not renew_lease(self._database, name=LEASE_NAME, holder=self._holder, until=until):
            raise CleanupInterrupted("the cleanup lease was lost")

    def _loop(self) -> None:
        while not self._stop.is_set():
            due = self._schedule.next_after(self._clock())
            while (wait := (due - self._clock()).total_seconds()) > 0:
                if self._stop.wait(min(wait, _MAX_SLEEP_SECONDS)):
                    return
            try:
                report = self.run_once(due=due)
            except Exception:  # the next day's run tries again
                log.exception("scheduled cleanup of deploy revisions failed")
            else:
                if report is not None:
                    log.info("scheduled cleanup of deploy revisions: %s", report.to_json())


def start_cleanup_schedule(installation: Installation) -> CleanupScheduler | None:
    """Start the daily cleanup when values.yaml enables it; the caller stops it."""
    if not installation.flags.cleanup_enabled:
        return None
    scheduler = CleanupScheduler(
        database=installation.database,
        run=lambda on_batch: run_cleanup(installation, actor="tarmac-scheduler", on_batch=on_batch),
        schedule=DailyAt.from_cron(HOUSTON_CRON),
        holder=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
    )
    scheduler.start()
    return scheduler


@contextmanager
def daily_cleanup(installation: Installation) -> Iterator[CleanupScheduler | None]:
    """The daily cleanup thread for as long as the server runs (None when disabled)."""
    scheduler = start_cleanup_schedule(installation)
    try:
        yield scheduler
    finally:
        if scheduler is not None:
            scheduler.stop()
