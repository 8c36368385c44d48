"""DORA figures from facts, worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tarmac.insight.dora import DeployFacts, dora_stats

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


def fact(
    seq: int, ago: timedelta | None, *, rollback: bool = False, bad: bool = False, dep: str = "a"
) -> DeployFacts:
    return DeployFacts(
        deployment_id=dep,
        seq=seq,
        live_at=NOW - ago if ago is not None else None,
        is_rollback=rollback,
        marked_bad=bad,
    )


def test_a_failed_deploy_between_is_not_what_the_rollback_replaced() -> None:
    # 1 live, 2 live, 3 FAILED (never live), 4 rollback: it replaced 2, after 2 h.
    stats = dora_stats(
        [fact(1, 10 * H), fact(2, 5 * H), fact(3, None), fact(4, 3 * H, rollback=True)],
        until=NOW,
        days=1,
        failed_at=[NOW - 4 * H],
    )
    assert (stats.deploys, stats.rollbacks, stats.rolled_back_deploys) == (2, 1, 1)
    assert stats.change_failure_rate == 0.5
    assert stats.median_time_to_restore_seconds == 7200.0
    assert stats.failed_deploys == 1


def test_marked_bad_counts_as_a_failure_and_deployments_do_not_mix() -> None:
    stats = dora_stats(
        [
            fact(1, 5 * H, bad=True),
            fact(2, 4 * H),
            fact(1, 3 * H, dep="b"),
            fact(2, 2 * H, rollback=True, dep="b"),
        ],
        until=NOW,
        days=1,
    )
    # a#1 marked bad; b#1 rolled back by b#2; a#2 is not what b#2 replaced.
    assert (stats.deploys, stats.rolled_back_deploys) == (3, 2)
    assert stats.median_time_to_restore_seconds == 3600.0


def test_nothing_in_the_period() -> None:
    stats = dora_stats([fact(1, 72 * H)], until=NOW, days=1)
    assert stats.deploys == 0
    assert stats.change_failure_rate is None
    assert stats.deploy_frequency_per_day == 0
    assert len(stats.daily) == 2  # yesterday (part) and today
