"""Reading bulk responses and naming daily indices: no network."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tarmac.events.elasticsearch_sink import daily_index, parse_timestamp, read_bulk_items
from tarmac.events.sink import PendingEvent

OUTBOX_TIME = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def event(timestamp: object) -> PendingEvent:
    return PendingEvent(id=1, document={"@timestamp": timestamp}, created_at=OUTBOX_TIME)


def test_created_and_already_stored_items_are_acknowledged_and_the_rest_rejected() -> None:
    items = [
        {"create": {"_id": "1", "status": 201}},
        {"create": {"_id": "2", "status": 409, "error": {"type": "version_conflict"}}},
        {"create": {"_id": "3", "status": 429, "error": {"type": "es_rejected_execution"}}},
        {"create": {"_id": "4", "status": 500, "error": "boom"}},
        {"create": {"_id": "5", "status": 400, "error": {"type": "mapper_parsing_exception"}}},
        {"create": {"_id": "not-ours", "status": 201}},
    ]
    acknowledged, rejected = read_bulk_items(items)
    assert acknowledged == {1, 2}
    assert rejected == {
        3: "429 es_rejected_execution",
        4: "500 boom",
        5: "400 mapper_parsing_exception",
    }


@pytest.mark.parametrize(
    ("timestamp", "index"),
    [
        ("2026-03-01T23:59:59.999Z", "ev-2026.03.01"),
        ("2026-03-02T00:00:00+00:00", "ev-2026.03.02"),
        ("2026-03-01T20:30:00-05:00", "ev-2026.03.02"),  # 01:30 UTC
        ("2026-03-01T12:00:00", "ev-2026.03.01"),  # naive: taken as UTC
        ("not a time", "ev-2026.01.02"),  # the outbox time instead
        (None, "ev-2026.01.02"),
    ],
)
def test_the_daily_index_is_the_utc_day_of_the_event(timestamp: object, index: str) -> None:
    assert daily_index("ev", event=event(timestamp)) == index


def test_timestamps_parse_to_aware_datetimes() -> None:
    assert parse_timestamp("2026-03-01T12:00:00Z") == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert parse_timestamp(12) is None
