"""When the daily cleanup runs next: Houston's cron ``11 23 * * *`` in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tarmac.cleanup.schedule import HOUSTON_CRON, DailyAt

DAILY = DailyAt.from_cron(HOUSTON_CRON)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-03-01T00:00:00", "2026-03-01T23:11:00"),
        ("2026-03-01T23:10:59.999999", "2026-03-01T23:11:00"),
        ("2026-03-01T23:11:00", "2026-03-02T23:11:00"),  # strictly after: not twice
        ("2026-03-01T23:11:00.000001", "2026-03-02T23:11:00"),
        ("2026-02-28T23:30:00", "2026-03-01T23:11:00"),
        ("2028-02-28T23:30:00", "2028-02-29T23:11:00"),
        ("2026-12-31T23:59:59", "2027-01-01T23:11:00"),
    ],
)
def test_next_run(now: str, expected: str) -> None:
    assert DAILY.next_after(at(now)) == at(expected)


def test_next_run_is_in_utc_whatever_the_zone_of_now() -> None:
    berlin = timezone(timedelta(hours=1))
    now = datetime(2026, 3, 2, 0, 5, tzinfo=berlin)  # 23:05 UTC on March 1st
    assert DAILY.next_after(now) == at("2026-03-01T23:11:00")


@pytest.mark.parametrize("expression", ["11 23 * * 1", "*/5 * * * *", "11 24 * * *", "11 23 *"])
def test_only_daily_cron_expressions(expression: str) -> None:
    with pytest.raises(ValueError):
        DailyAt.from_cron(expression)


def test_other_daily_times() -> None:
    assert DailyAt.from_cron("0 3 * * *") == DailyAt(hour=3, minute=0)
