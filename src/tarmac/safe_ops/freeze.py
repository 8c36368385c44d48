"""Freeze windows: time ranges (once, daily or weekly) during which plain deploys wait.

Pure: parsing a PATCH's windows into values, and whether ``now`` falls in one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tarmac.errors import InvalidRequest
from tarmac.safe_ops.schemas import MAX_REASON_LENGTH

MAX_WINDOWS = 50
REPEAT_PERIODS = {"daily": timedelta(days=1), "weekly": timedelta(weeks=1)}


@dataclass(frozen=True)
class FreezeWindow:
    """``start``..``end`` (end excluded); with ``repeat`` the range recurs every period."""

    start: datetime
    end: datetime
    reason: str
    repeat: str | None = None

    def contains(self, now: datetime) -> bool:
        if now < self.start:
            return False
        if self.repeat is None:
            return now < self.end
        period = REPEAT_PERIODS[self.repeat]
        return (now - self.start) % period < self.end - self.start

    def occurrence_end(self, now: datetime) -> datetime:
        """When the occurrence that ``now`` falls in ends."""
        if self.repeat is None:
            return self.end
        period = REPEAT_PERIODS[self.repeat]
        return self.start + ((now - self.start) // period) * period + (self.end - self.start)

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "reason": self.reason,
            "repeat": self.repeat,
        }


def parse_windows(raw: Any) -> list[FreezeWindow]:
    """Validate a list of ``{start, end, reason, repeat?}``; raise ``invalid_request``."""
    if not isinstance(raw, list):
        raise InvalidRequest("freeze_windows must be a list", field="freeze_windows")
    if len(raw) > MAX_WINDOWS:
        raise InvalidRequest(
            f"at most {MAX_WINDOWS} freeze windows", field="freeze_windows", max=MAX_WINDOWS
        )
    return [_parse_window(item, index) for index, item in enumerate(raw)]


def active_window(windows: Iterable[FreezeWindow], now: datetime) -> FreezeWindow | None:
    """The first window ``now`` falls in, if any."""
    return next((w for w in windows if w.contains(now)), None)


def stored_windows(raw: Sequence[dict[str, Any]] | None) -> list[FreezeWindow]:
    """Windows as stored on a Deployment (already validated when set)."""
    return [
        FreezeWindow(
            start=datetime.fromisoformat(w["start"]),
            end=datetime.fromisoformat(w["end"]),
            reason=w["reason"],
            repeat=w.get("repeat"),
        )
        for w in raw or []
    ]


def _parse_window(item: Any, index: int) -> FreezeWindow:
    field = f"freeze_windows[{index}]"
    if not isinstance(item, dict) or set(item) - {"start", "end", "reason", "repeat"}:
        raise InvalidRequest(
            f"{field} must be an object with start, end, reason and optional repeat", field=field
        )
    start = _parse_time(item.get("start"), f"{field}.start")
    end = _parse_time(item.get("end"), f"{field}.end")
    if end <= start:
        raise InvalidRequest(f"{field}.end must be after its start", field=f"{field}.end")
    reason = item.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidRequest(f"{field}.reason is required", field=f"{field}.reason")
    if len(reason.strip()) > MAX_REASON_LENGTH:
        raise InvalidRequest(
            f"{field}.reason is longer than {MAX_REASON_LENGTH} characters",
            field=f"{field}.reason",
        )
    repeat = item.get("repeat")
    if repeat is not None:
        if repeat not in REPEAT_PERIODS:
            raise InvalidRequest(
                f"{field}.repeat must be one of {', '.join(REPEAT_PERIODS)} or null",
                field=f"{field}.repeat",
            )
        if end - start >= REPEAT_PERIODS[repeat]:
            raise InvalidRequest(
                f"{field} lasts as long as its {repeat} period: it would never end",
                field=field,
            )
    return FreezeWindow(start=start, end=end, reason=reason.strip(), repeat=repeat)


def _parse_time(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidRequest(f"{field} must be an ISO-8601 date-time string", field=field)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(
            f"{field} is not an ISO-8601 date-time: {value!r}", field=field
        ) from None
    if parsed.tzinfo is None:
        raise InvalidRequest(
            f"{field} needs a time zone (e.g. Z or +02:00): {value!r}", field=field
        )
    return parsed
