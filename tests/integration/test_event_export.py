"""The outbox reaches Elasticsearch exactly once through outages, rejections and restarts.

Runs against ``FakeElasticsearch`` (a real HTTP server speaking ``_bulk``) on SQLite and
PostgreSQL. Set ``TARMAC_TEST_ELASTICSEARCH_URL`` to run the last test against a real
Elasticsearch too.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tarmac.events.backoff import Backoff
from tarmac.events.ecs import ecs_event
from tarmac.events.elasticsearch_sink import ElasticsearchSink
from tarmac.events.exporter import EventExporter, ExportRound, export_pending
from tarmac.events.models import EventRecord
from tarmac.events.service import EventLog, record_event
from tarmac.events.sink import PendingEvent
from tarmac.installation.context import Installation, open_installation
from tarmac.settings import load_settings
from tests.support.fake_bulk_server import FakeElasticsearch
from tests.support.server import running_tarmac

REAL_ES_ENV = "TARMAC_TEST_ELASTICSEARCH_URL"
LATE_ON_DAY_ONE = datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)


@pytest.fixture
def installation(database_url: str, tmp_path: Path) -> Iterator[Installation]:
    settings = load_settings(data_dir=tmp_path / "data", database_url=database_url)
    opened = open_installation(settings)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def fake_es() -> Iterator[FakeElasticsearch]:
    with FakeElasticsearch() as fake:
        yield fake


def record_events(installation: Installation, count: int) -> dict[int, str]:
    """Commit ``count`` events a second apart across midnight; returns id -> daily index."""
    indices: dict[int, str] = {}
    with installation.database.session(write=True) as session:
        for n in range(count):
            at = LATE_ON_DAY_ONE + timedelta(seconds=n - count // 2 + 1)
            document = ecs_event(action="deploy.rollback", outcome="success", actor="ci", at=at)
            record = record_event(session, document)
            indices[record.id] = f"tarmac-events-{at:%Y.%m.%d}"
        session.commit()
    installation.after_commit()
    return indices


def unexported(installation: Installation) -> set[int]:
    with Session(installation.database.engine) as session:
        query = select(EventRecord.id).where(EventRecord.exported_at.is_(None))
        return set(session.scalars(query))


def assert_exactly_once(fake: FakeElasticsearch, expected: dict[int, str]) -> None:
    assert set(fake.stored) == {(index, str(event_id)) for event_id, index in expected.items()}
    assert set(fake.created.values()) == {1}
    for (_, event_id), document in fake.stored.items():
        assert document["event"]["id"] == event_id


def wait_for(condition: Callable[[], bool], *, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_every_event_arrives_once_through_an_outage_and_rejections(
    installation: Installation, fake_es: FakeElasticsearch
) -> None:
    engine = installation.database.engine
    sink = ElasticsearchSink(url=fake_es.url)
    fake_es.down()
    expected = record_events(installation, 25)

    assert export_pending(engine, sink, batch_size=10) == ExportRound(sink_unavailable=True)
    assert unexported(installation) == set(expected)

    fake_es.up()
    fake_es.reject_next_items(3, status=429)
    fake_es.reject_next_items(2, status=500)
    first = export_pending(engine, sink, batch_size=10)
    assert first == ExportRound(acknowledged=20, unacknowledged=5)
    assert first.should_back_off
    assert unexported(installation) == set(sorted(expected)[:5])

    fake_es.reject_next_requests(1, status=503)
    assert export_pending(engine, sink, batch_size=10).sink_unavailable
    assert export_pending(engine, sink, batch_size=10) == ExportRound(acknowledged=5)
    assert unexported(installation) == set()
    assert_exactly_once(fake_es, expected)
    assert fake_es.indices() == {"tarmac-events-2026.03.01", "tarmac-events-2026.03.02"}
    logged = [int(d["event"]["id"]) for d in installation.event_log.read()]
    assert sorted(logged) == sorted(expected)  # the JSON-lines log, written during the outage


class Killed(Exception):
    """Stands for a kill -9."""


class AckThenCrash:
    """Delivers, then dies before the exporter can mark anything: a kill -9 at the worst time."""

    def __init__(self, inner: ElasticsearchSink) -> None:
        self.inner = inner

    def send(self, batch: Sequence[PendingEvent]) -> set[int]:
        self.inner.send(batch)
        raise Killed("after Elasticsearch acknowledged")

    def close(self) -> None:
        self.inner.close()


def test_a_restarted_exporter_loses_nothing_and_duplicates_nothing(
    installation: Installation, fake_es: FakeElasticsearch
) -> None:
    engine = installation.database.engine
    expected = record_events(installation, 12)
    fake_es.reject_next_items(4, status=429)
    first = export_pending(engine, ElasticsearchSink(url=fake_es.url), batch_size=6)
    assert first == ExportRound(acknowledged=8, unacknowledged=4)

    with pytest.raises(Killed):
        export_pending(engine, AckThenCrash(ElasticsearchSink(url=fake_es.url)), batch_size=6)
    assert len(unexported(installation)) == 4  # stored in Elasticsearch, still in the outbox

    restarted = export_pending(engine, ElasticsearchSink(url=fake_es.url), batch_size=6)
    assert restarted == ExportRound(acknowledged=4)
    assert fake_es.conflicts == 4  # the re-sent events were recognised by their _id
    assert unexported(installation) == set()
    assert_exactly_once(fake_es, expected)


def test_the_background_exporter_retries_until_everything_arrived(
    installation: Installation, fake_es: FakeElasticsearch
) -> None:
    fake_es.down()
    expected = record_events(installation, 30)

    def exporter() -> EventExporter:
        return EventExporter(
            engine=installation.database.engine,
            sink=ElasticsearchSink(url=fake_es.url),
            batch_size=7,
            poll_seconds=0.02,
            backoff=Backoff(base_seconds=0.01, cap_seconds=0.05),
        )

    before_restart = exporter()
    before_restart.start()
    wait_for(lambda: before_restart.backoff.failures >= 3)
    fake_es.latency_seconds = 0.2
    fake_es.reject_next_items(5, status=429)
    fake_es.up()
    wait_for(lambda: len(fake_es.stored) >= 7)
    before_restart.stop()  # stops after the batch in flight
    assert len(unexported(installation)) >= 10

    fake_es.reject_next_items(3, status=500)
    after_restart = exporter()
    after_restart.start()
    try:
        wait_for(lambda: not unexported(installation))
    finally:
        after_restart.stop()
    assert_exactly_once(fake_es, expected)


def test_two_exporters_take_turns_instead_of_sending_twice(
    installation: Installation, fake_es: FakeElasticsearch
) -> None:
    expected = record_events(installation, 20)
    fake_es.latency_seconds = 0.1  # 4 bulk requests: both exporters surely overlap
    start = threading.Barrier(2)
    rounds: list[ExportRound] = []

    def export() -> None:
        sink = ElasticsearchSink(url=fake_es.url)
        start.wait()
        rounds.append(export_pending(installation.database.engine, sink, batch_size=5))

    threads = [threading.Thread(target=export) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.skipped for r in rounds) == [False, True]
    assert fake_es.conflicts == 0
    assert_exactly_once(fake_es, expected)


def test_the_server_exports_while_it_runs_and_logs_while_elasticsearch_is_down(
    database_url: str, tmp_path: Path, fake_es: FakeElasticsearch
) -> None:
    fake_es.down()
    data_dir = tmp_path / "data"
    with running_tarmac(
        data_dir=data_dir,
        database_url=database_url,
        elasticsearch_url=fake_es.url,
        elasticsearch_index_prefix="ops-events",
    ) as api:
        api.new_deployment("sales")
        api.new_deployment("marketing")
        log = EventLog(data_dir / "events" / "events.jsonl")
        logged = {d["event"]["id"] for d in log.read()}
        assert len(logged) >= 2  # written while Elasticsearch is unreachable

        fake_es.up()
        wait_for(lambda: {event_id for _, event_id in fake_es.stored} == logged)
        assert all(index.startswith("ops-events-") for index in fake_es.indices())
        assert set(fake_es.created.values()) == {1}
    assert not any(t.name == "tarmac-event-export" for t in threading.enumerate())


@pytest.mark.skipif(not os.environ.get(REAL_ES_ENV), reason=f"{REAL_ES_ENV} is not set")
def test_a_real_elasticsearch_stores_each_event_once(installation: Installation) -> None:
    from elasticsearch import Elasticsearch

    url = os.environ[REAL_ES_ENV]
    prefix = f"tarmac-test-{uuid.uuid4().hex[:8]}"
    expected = record_events(installation, 25)
    engine = installation.database.engine
    sink = ElasticsearchSink(url=url, index_prefix=prefix)
    client = Elasticsearch(url)
    indices = sorted({index.replace("tarmac-events", prefix) for index in expected.values()})
    try:
        assert export_pending(engine, sink, batch_size=10) == ExportRound(acknowledged=25)
        with Session(engine) as session:  # as if killed before the outbox was updated
            session.execute(update(EventRecord).values(exported_at=None))
            session.commit()
        assert export_pending(engine, sink, batch_size=10) == ExportRound(acknowledged=25)

        client.indices.refresh(index=",".join(indices))
        for event_id, index in expected.items():
            found: Any = client.get(index=index.replace("tarmac-events", prefix), id=str(event_id))
            assert found["_source"]["event"]["id"] == str(event_id)
        assert client.count(index=",".join(indices))["count"] == len(expected)
    finally:
        client.indices.delete(index=",".join(indices), ignore_unavailable=True)
        client.close()
        sink.close()
