"""The DAG bundle renews the versions unfinished runs read, and stops once they end."""

from __future__ import annotations

from tarmac.agent.client import ServerUnavailable
from tarmac.airflow.runs_in_use import InUseRenewer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_versions_are_renewed_a_third_into_their_report_while_runs_need_them() -> None:
    clock, wanted, sent = Clock(), {"d1", "d2"}, []
    renewer = InUseRenewer(
        seconds=90,
        find=lambda: set(wanted),
        report=lambda version, seconds: sent.append((version, seconds)),
        clock=clock,
    )
    renewer.renew()
    assert sent == [("d1", 90), ("d2", 90)]
    clock.now = 29.0
    renewer.renew()
    assert len(sent) == 2  # not due yet
    clock.now = 35.0
    renewer.renew()
    assert len(sent) == 2  # due, but Airflow was asked 6 s ago: at most every 10 s
    clock.now = 40.0
    wanted.discard("d2")  # d2's run ended: no longer renewed
    renewer.renew()
    assert sent[2:] == [("d1", 90)]
    clock.now = 100.0
    wanted.clear()  # the run ended: nothing renewed
    renewer.renew()
    assert sent[3:] == []


def test_a_failed_report_is_retried_at_the_next_refresh_and_a_failed_query_is_harmless() -> None:
    clock, sent = Clock(), []
    down = [True]

    def report(version: str, seconds: int) -> None:
        if down[0]:
            raise ServerUnavailable("tarmac is restarting")
        sent.append(version)

    def find() -> set[str]:
        if clock.now == 50.0:
            raise RuntimeError("Airflow's database is locked")
        return {"d1"}

    renewer = InUseRenewer(seconds=60, find=find, report=report, clock=clock)
    renewer.renew()
    assert sent == []
    down[0] = False
    clock.now = 11.0  # the next time it asks Airflow
    renewer.renew()
    assert sent == ["d1"]
    clock.now = 50.0
    renewer.renew()  # logged, not raised: the DAG processor keeps refreshing
    assert sent == ["d1"]
