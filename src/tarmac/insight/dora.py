"""DORA figures from a deploy history: pure functions over facts, no database.

- deploys: plain deploys that went live in the period (rollbacks are counted apart);
- change failure rate: those of them later rolled back (or marked bad) ÷ deploys;
- time to restore: a bad deploy going live → the rollback that replaced it going live;
- lead time: the commit's time (Git metadata) → the deploy going live.
A deploy is "rolled back" when a rollback is the next deploy to go live after it.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple


class DeployFacts(NamedTuple):
    """What the figures need of one deploy (a tuple: histories can hold 100,000s)."""

    deployment_id: str
    seq: int
    live_at: datetime | None  # None: never went live (FAILED)
    is_rollback: bool
    committed_at: datetime | None = None
    marked_bad: bool = False  # marked bad (tarmac.safe_ops), rolled back or not


@dataclass(frozen=True)
class DayCounts:
    day: date
    deploys: int
    rollbacks: int
    failed: int


@dataclass(frozen=True)
class DoraStats:
    days: int
    since: datetime
    until: datetime
    deploys: int
    rollbacks: int
    failed_deploys: int
    rolled_back_deploys: int
    change_failure_rate: float | None
    median_time_to_restore_seconds: float | None
    deploy_frequency_per_day: float
    median_lead_time_seconds: float | None
    lead_time_samples: int
    daily: tuple[DayCounts, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "days": self.days,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "deploys": self.deploys,
            "rollbacks": self.rollbacks,
            "failed_deploys": self.failed_deploys,
            "rolled_back_deploys": self.rolled_back_deploys,
            "change_failure_rate": self.change_failure_rate,
            "median_time_to_restore_seconds": self.median_time_to_restore_seconds,
            "deploy_frequency_per_day": self.deploy_frequency_per_day,
            "median_lead_time_seconds": self.median_lead_time_seconds,
            "lead_time_samples": self.lead_time_samples,
            "daily": [
                {
                    "date": d.day.isoformat(),
                    "deploys": d.deploys,
                    "rollbacks": d.rollbacks,
                    "failed": d.failed,
                }
                for d in self.daily
            ],
        }


def dora_stats(
    facts: Iterable[DeployFacts], *, until: datetime, days: int, failed_at: Sequence[datetime] = ()
) -> DoraStats:
    """The figures over ``[until - days, until)``; ``facts`` may start before the period.

    ``facts`` must include, per Deployment, the last deploy that went live before the
    period, so a rollback early in the period knows what it replaced.
    """
    since = until - timedelta(days=days)

    def in_period(moment: datetime | None) -> bool:
        return moment is not None and since <= moment < until

    by_deployment: dict[str, list[DeployFacts]] = {}
    for fact in facts:
        by_deployment.setdefault(fact.deployment_id, []).append(fact)
    plain: list[DeployFacts] = []
    rollbacks: list[DeployFacts] = []
    bad: set[tuple[str, int]] = set()
    restore_seconds: list[float] = []
    for history in by_deployment.values():
        live = sorted((f for f in history if f.live_at is not None), key=lambda f: f.seq)
        previous: DeployFacts | None = None
        for fact in live:
            if fact.is_rollback and previous is not None:
                bad.add((previous.deployment_id, previous.seq))
                if in_period(fact.live_at):
                    assert fact.live_at is not None and previous.live_at is not None
                    restore_seconds.append((fact.live_at - previous.live_at).total_seconds())
            if in_period(fact.live_at):
                (rollbacks if fact.is_rollback else plain).append(fact)
            previous = fact
    rolled_back = [f for f in plain if (f.deployment_id, f.seq) in bad or f.marked_bad]
    lead_times = [
        (f.live_at - f.committed_at).total_seconds()
        for f in plain
        if f.committed_at is not None and f.live_at is not None
    ]
    failed = [m for m in failed_at if in_period(m)]
    return DoraStats(
        days=days,
        since=since,
        until=until,
        deploys=len(plain),
        rollbacks=len(rollbacks),
        failed_deploys=len(failed),
        rolled_back_deploys=len(rolled_back),
        change_failure_rate=len(rolled_back) / len(plain) if plain else None,
        median_time_to_restore_seconds=_median(restore_seconds),
        deploy_frequency_per_day=len(plain) / days,
        median_lead_time_seconds=_median(lead_times),
        lead_time_samples=len(lead_times),
        daily=_daily(since, days, plain, rollbacks, failed),
    )


def _median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _daily(
    since: datetime,
    days: int,
    plain: list[DeployFacts],
    rollbacks: list[DeployFacts],
    failed: list[datetime],
) -> tuple[DayCounts, ...]:
    first = since.date()
    counts = {first + timedelta(days=n): [0, 0, 0] for n in range(days + 1)}
    series: tuple[list[datetime | None], ...] = (
        [f.live_at for f in plain],
        [f.live_at for f in rollbacks],
        list(failed),
    )
    for index, moments in enumerate(series):
        for moment in moments:
            if moment is not None and moment.date() in counts:
                counts[moment.date()][index] += 1
    return tuple(
        DayCounts(day=day, deploys=c[0], rollbacks=c[1], failed=c[2])
        for day, c in sorted(counts.items())
    )
