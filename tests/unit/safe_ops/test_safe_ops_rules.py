"""Safe operations' pure rules: freeze windows, plain-deploy gates, last good, bad marks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tarmac.errors import InvalidRequest
from tarmac.rollbacks.facts import MarkedBad
from tarmac.safe_ops.freeze import FreezeWindow, parse_windows
from tarmac.safe_ops.gates import GateRequest, HoldFacts, plain_deploy_refusals
from tarmac.safe_ops.last_good import Candidate, pick_last_good
from tests.unit.rollbacks.test_policy import NOW, TARGET, codes, decide

HOLD = HoldFacts(deploy_id="d7", deploy_seq=7, set_by="alice", reason="v6 broke", set_at=NOW)
FROZEN = FreezeWindow(start=NOW - timedelta(hours=1), end=NOW + timedelta(hours=1), reason="close")


def gates(**overrides: Any) -> list[str]:
    args: dict[str, Any] = {
        "deployment_name": "etl",
        "hold": None,
        "hold_enabled": True,
        "windows": [],
        "request": GateRequest(),
        "is_admin": False,
        "now": NOW,
    }
    args.update(overrides)
    return [r.code for r in plain_deploy_refusals(**args)]


def test_the_hold_refuses_unless_cleared_or_turned_off() -> None:
    assert gates(hold=HOLD) == ["rollback_hold"]
    assert gates(hold=HOLD, request=GateRequest(clear_hold=True)) == []
    assert gates(hold=HOLD, hold_enabled=False) == []
    assert gates() == []


def test_the_hold_names_a_restored_deploy_as_a_deploy_not_a_rollback() -> None:
    def message(hold: HoldFacts) -> str:
        (refusal,) = plain_deploy_refusals(
            deployment_name="etl",
            hold=hold,
            hold_enabled=True,
            windows=[],
            request=GateRequest(),
            is_admin=False,
            now=NOW,
        )
        return refusal.message

    assert "held since rollback #7 by alice" in message(HOLD)
    restored = replace(HOLD, deploy_is_rollback=False)  # a failed rollout restored #7
    assert "held since deploy #7 by alice" in message(restored)


def test_a_freeze_refuses_and_only_an_admin_with_a_reason_overrides() -> None:
    assert gates(windows=[FROZEN]) == ["deploy_frozen"]
    override = GateRequest(freeze_override_reason="hotfix")
    assert gates(windows=[FROZEN], request=override) == ["permission_denied"]
    assert gates(windows=[FROZEN], request=override, is_admin=True) == []
    blank = GateRequest(freeze_override_reason="  ")
    assert gates(windows=[FROZEN], request=blank, is_admin=True) == [
        "invalid_request",
        "deploy_frozen",
    ]
    assert gates(hold=HOLD, windows=[FROZEN]) == ["rollback_hold", "deploy_frozen"]


def test_windows_once_daily_and_weekly() -> None:
    start = datetime(2026, 11, 2, 22, 0, tzinfo=UTC)  # a Monday, 22:00-02:00
    once = FreezeWindow(start=start, end=start + timedelta(hours=4), reason="r")
    assert once.contains(start) and not once.contains(start + timedelta(hours=4))
    assert not once.contains(start - timedelta(seconds=1))
    daily = FreezeWindow(start=start, end=start + timedelta(hours=4), reason="r", repeat="daily")
    assert daily.contains(start + timedelta(days=9, hours=3))
    assert not daily.contains(start + timedelta(days=9, hours=5))
    assert daily.occurrence_end(start + timedelta(days=2, hours=1)) == start + timedelta(
        days=2, hours=4
    )
    weekly = FreezeWindow(start=start, end=start + timedelta(days=2), reason="r", repeat="weekly")
    assert weekly.contains(start + timedelta(weeks=3, days=1))
    assert not weekly.contains(start + timedelta(weeks=3, days=3))


def test_parse_windows_keeps_offsets_and_refuses_bad_ones() -> None:
    (parsed,) = parse_windows(
        [{"start": "2026-12-24T00:00:00+01:00", "end": "2026-12-27T00:00:00Z", "reason": " x "}]
    )
    assert parsed.start == datetime(2026, 12, 23, 23, 0, tzinfo=UTC)
    assert parsed.reason == "x"
    with pytest.raises(InvalidRequest, match="time zone"):
        parse_windows([{"start": "2026-12-24T00:00", "end": "2026-12-27T00:00Z", "reason": "x"}])
    with pytest.raises(InvalidRequest, match="at most"):
        parse_windows([{"start": "x"}] * 51)
    with pytest.raises(InvalidRequest, match="list"):
        parse_windows({"start": "x"})


def candidate(seq: int, **fields: Any) -> Candidate:
    base: dict[str, Any] = {
        "id": f"d{seq}",
        "seq": seq,
        "status": "DEPLOYED",
        "marked_bad": False,
        "reached_healthy_at": None,
        "code_state": (f"img:{seq}",),
    }
    base.update(fields)
    return Candidate(**base)


def test_last_good_is_the_newest_good_deploy_before_the_live_one() -> None:
    live = candidate(6)
    history = [
        candidate(1),
        candidate(2),
        candidate(3, status="FAILED"),
        candidate(4, marked_bad=True),
        candidate(5, code_state=live.code_state),  # the live code under another number
        live,
        candidate(7),  # newer than the live deploy (the live one was a rollback)
    ]
    assert pick_last_good(history, live=live, reporting_from=None) == history[1]
    assert pick_last_good([live], live=live, reporting_from=None) is None


def test_once_the_runtime_reports_only_deploys_seen_healthy_count() -> None:
    live = candidate(5)
    seen = NOW - timedelta(days=1)
    history = [
        candidate(1),  # before any report: unknown, not excluded
        candidate(2, reached_healthy_at=seen),
        candidate(3),  # reported era, never healthy
        candidate(4),
        live,
    ]
    assert pick_last_good(history, live=live, reporting_from=2) == history[1]
    assert pick_last_good([*history[:1], live], live=live, reporting_from=2) == history[0]


def test_a_rollback_onto_a_bad_deploy_needs_the_marked_bad_acknowledgement() -> None:
    mark = MarkedBad(reason="corrupts orders", by="bob", at=NOW)
    bad = replace(TARGET, marked_bad=mark)
    decision = decide(target=bad)
    assert codes(decision) == ["deploy_marked_bad"]
    assert "corrupts orders" in decision.refusals[0].message
    assert decision.refusals[0].details["acknowledge"] == "marked_bad"
    assert codes(decide(target=bad, dry_run=True)) == ["deploy_marked_bad"]
    assert codes(decide(target=bad, acknowledged=frozenset({"marked_bad"}))) == []
    assert codes(decide(acknowledged=frozenset({"marked_bad"}))) == []
