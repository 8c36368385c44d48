"""The server side of long polling: ETags, after-commit wake-ups, and the LiveWatcher."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from contextlib import suppress
from dataclasses import replace

import pytest
from sqlalchemy import create_engine

from tarmac.db.unit_of_work import Database, collect
from tarmac.deploys.live_notifications import (
    LiveWatcher,
    etag_matches,
    quoted_etag,
)
from tarmac.deploys.schemas import CurrentDags
from tarmac.events.domain import DeployFinished, DomainEvent


@pytest.mark.parametrize(
    ("header", "deploy_id", "matches"),
    [
        ('"d1"', "d1", True),
        ('W/"d1"', "d1", True),
        ('"d0", "d1"', "d1", True),
        ("*", "d1", True),
        ('"d0"', "d1", False),
        ('"none"', None, True),
        ('"none"', "d1", False),
        (None, "d1", False),
        ("", None, False),
    ],
)
def test_if_none_match(header: str | None, deploy_id: str | None, matches: bool) -> None:
    assert etag_matches(header, deploy_id) is matches


def test_etag_names_the_live_deploy() -> None:
    assert quoted_etag("d1") == '"d1"'
    assert quoted_etag(None) == '"none"'


def test_handlers_hear_of_a_change_only_once_it_commits() -> None:
    heard: list[DomainEvent] = []
    database = Database(create_engine("sqlite://"))
    live = DeployFinished(deployment_id="dep", kind="rollback", outcome="success", seconds=0.1)
    with database.subscribed(heard.append):
        with database.session(write=True) as session:
            collect(session, replace(live, deployment_id="rolled-back"))
            session.rollback()
        with database.session(write=True) as session:
            collect(session, live)
            assert heard == []
            database.commit(session)
            database.commit(session)
    assert heard == [live]


def test_the_watcher_is_poked_only_by_a_deploy_that_went_live() -> None:
    poked: list[str] = []
    watcher = LiveWatcher(read_live=lambda ids: {})
    watcher.poke = poked.append  # type: ignore[method-assign]
    watcher.on_event(DeployFinished("failed", kind="deploy", outcome="failure", seconds=0.1))
    watcher.on_event(DeployFinished("dep", kind="deploy", outcome="success", seconds=0.1))
    assert poked == ["dep"]


def _dags(deploy_id: str) -> CurrentDags:
    return CurrentDags(deploy_id=deploy_id, bundle_sha256="ab" * 32, dag_deploy_enabled=True)


class Live:
    """The live deploy of each Deployment, as the database would say."""

    def __init__(self) -> None:
        self.deploys: dict[str, str] = {"dep": "d1"}
        self.reads = 0
        self.asked: list[set[str]] = []

    def read(self, deployment_ids: Collection[str]) -> dict[str, CurrentDags]:
        self.reads += 1
        self.asked.append(set(deployment_ids))
        return {d: _dags(self.deploys[d]) for d in deployment_ids if d in self.deploys}


async def _until(condition: Callable[[], bool], *, timeout: float = 60) -> None:
    """Let the event loop run until ``condition`` holds (a generous bound, not a timing)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.001)


def test_a_poke_wakes_only_waiters_whose_etag_is_stale() -> None:
    async def scenario() -> None:
        live = Live()
        watcher = LiveWatcher(read_live=live.read, recheck_seconds=3600)
        watcher.start()
        with watcher.watch(deployment_id="dep") as waiter:
            waiter.etag = "d1"
            sleeping = asyncio.create_task(waiter.wait(5))
            watcher.poke("dep")  # a commit that left d1 live (nothing to wake)
            await _until(lambda: live.reads == 1 and watcher.sleeping == 1)  # d1 was read
            assert not sleeping.done()
            live.deploys["dep"] = "d2"
            watcher.poke("dep")
            assert await sleeping == _dags("d2")
        assert watcher.waiting == 0
        await watcher.close()

    asyncio.run(scenario())


def test_the_periodic_check_sees_changes_from_other_replicas() -> None:
    async def scenario() -> None:
        live = Live()
        watcher = LiveWatcher(read_live=live.read, recheck_seconds=0.02)
        watcher.start()
        with watcher.watch(deployment_id="dep") as waiter:
            waiter.etag = "d1"
            sleeping = asyncio.create_task(waiter.wait(5))
            await _until(lambda: live.reads >= 1)  # a periodic check found d1, woke no one
            assert not sleeping.done()
            live.deploys["dep"] = "d2"  # committed elsewhere: no poke
            assert await sleeping == _dags("d2")
        asked_before = len(live.asked)
        # A waiter elsewhere keeps the periodic check going: three rounds, none asks for dep.
        with watcher.watch(deployment_id="other") as other:
            other.etag = "o1"
            elsewhere = asyncio.create_task(other.wait(60))
            await _until(lambda: sum("other" in ids for ids in live.asked) >= 3)
            elsewhere.cancel()
            with suppress(asyncio.CancelledError):
                await elsewhere
        assert all("dep" not in ids for ids in live.asked[asked_before:]), "no waiters, no queries"
        await watcher.close()

    asyncio.run(scenario())


def test_one_query_serves_every_waiter() -> None:
    async def scenario() -> None:
        live = Live()
        watcher = LiveWatcher(read_live=live.read, recheck_seconds=3600)
        watcher.start()
        waits = []
        with (
            watcher.watch(deployment_id="dep") as first,
            watcher.watch(deployment_id="dep") as second,
        ):
            for waiter in (first, second):
                waiter.etag = "d1"
                waits.append(asyncio.create_task(waiter.wait(5)))
            live.deploys["dep"] = "d2"
            watcher.poke("dep")
            assert await asyncio.gather(*waits) == [_dags("d2"), _dags("d2")]
        assert live.reads == 1
        await watcher.close()

    asyncio.run(scenario())


def test_closing_answers_every_waiter_at_once() -> None:
    async def scenario() -> None:
        watcher = LiveWatcher(read_live=Live().read, recheck_seconds=3600)
        watcher.start()
        with watcher.watch(deployment_id="dep") as waiter:
            waiter.etag = "d1"
            sleeping = asyncio.create_task(waiter.wait(60))
            await _until(lambda: watcher.sleeping == 1)
            watcher.release_all_threadsafe()
            assert await sleeping is None  # "not modified"
            assert watcher.closed
        with watcher.watch(deployment_id="dep") as late:
            assert await late.wait(60) is None
        await watcher.close()

    asyncio.run(scenario())


def test_a_wait_times_out_as_none() -> None:
    async def scenario() -> None:
        watcher = LiveWatcher(read_live=Live().read, recheck_seconds=3600)
        watcher.start()
        with watcher.watch(deployment_id="dep") as waiter:
            waiter.etag = "d1"
            assert await waiter.wait(0.01) is None
        await watcher.close()

    asyncio.run(scenario())
