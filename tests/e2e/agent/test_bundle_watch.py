"""The Airflow 3 DAG bundle's watch against a real server: it prepares, it never switches.

Airflow's side (the parse requests waking the DAG processor) is tested on a real Airflow
in tests/airflow/test_airflow_notices.py; here the requests are recorded instead, to see
exactly which files the watch asks for and that it outlives an outage of the server.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tarmac.agent.cache import BundleCache
from tarmac.agent.client import LiveCodeClient
from tarmac.agent.folder import LiveFolder
from tarmac.airflow.live_watch import LiveWatch
from tests.e2e.agent.agent_process import agent_token, deploy_dags, wait_until
from tests.support.bundles import dag_file, make_bundle
from tests.support.process import ServerProcess

V1 = make_bundle({"etl.py": dag_file("etl", marker="v1"), "report.py": dag_file("report")})
V2 = make_bundle(
    {
        "etl.py": dag_file("etl", marker="v2"),
        "report.py": dag_file("report"),
        "ml.py": dag_file("ml"),
    }
)
V3 = make_bundle({"report.py": dag_file("report")})  # only removes files
SETTLE = 60.0


class RecordedRequests:
    """Stands in for Airflow's priority parse requests table (no Airflow in this venv)."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, list[str], list[str]]] = []

    def request_ahead(self, folder: Path, changed: list[str], *, others: list[str]) -> list[str]:
        self.asked.append((folder.name, changed, others))
        return changed or others[:1]

    def asked_for(self, bundle: bytes) -> tuple[list[str], list[str]] | None:
        sha = hashlib.sha256(bundle).hexdigest()
        return next(((c, o) for name, c, o in self.asked if name == sha), None)


@pytest.fixture
def watched(
    server: ServerProcess, tmp_path: Path
) -> Iterator[tuple[str, LiveFolder, RecordedRequests]]:
    with server.client() as client:
        dep_id = client.post(
            "/api/v1/deployments",
            json={"name": "watched", "runtime_version": "12.4.0", "dag_deploy_mode": "dag_deploy"},
        ).json()["id"]
        deploy_dags(client, dep_id, V1)
    token = agent_token(server, dep_id)

    def new_client() -> LiveCodeClient:
        return LiveCodeClient(server_url=server.url, token=token, deployment_id=dep_id)

    main_client = new_client()
    cache = BundleCache(
        root=tmp_path / "tarmac",
        fetch=lambda sha256, path: main_client.download(sha256, into=path),
    )
    folder = LiveFolder(link=tmp_path / "tarmac" / "dags", cache=cache, keep=10)
    live = main_client.current()
    assert live is not None
    folder.switch_to(live)  # what the bundle's first refresh() does
    requests = RecordedRequests()
    watch = LiveWatch(
        client=new_client,
        folder=folder,
        reparse=requests,  # type: ignore[arg-type]
        switching=threading.Lock(),
        wait_seconds=5,
    )
    watch.start()
    try:
        yield dep_id, folder, requests
    finally:
        watch.stop()
        main_client.close()


def test_the_watch_unpacks_the_next_deploy_and_asks_for_its_changed_files_without_switching(
    server: ServerProcess, watched: tuple[str, LiveFolder, RecordedRequests]
) -> None:
    dep_id, folder, requests = watched
    deploy_dags(server.client(), dep_id, V2)
    assert wait_until(lambda: requests.asked_for(V2) is not None, timeout=SETTLE), requests.asked
    changed, _others = requests.asked_for(V2) or ([], [])
    assert changed == ["etl.py", "ml.py"]  # report.py is the same in both
    assert folder.cache.has(hashlib.sha256(V2).hexdigest())
    shown = folder.shown()
    assert shown is not None and shown.bundle_sha256 == hashlib.sha256(V1).hexdigest(), (
        "the switch is refresh()'s, under Airflow's lock"
    )


def test_a_deploy_that_only_removes_files_still_wakes_airflow_and_the_watch_outlives_an_outage(
    server: ServerProcess, watched: tuple[str, LiveFolder, RecordedRequests]
) -> None:
    dep_id, _folder, requests = watched
    server.stop()
    server.start()  # the watch's long poll failed meanwhile; it asks again
    deploy_dags(server.client(), dep_id, V3)
    assert wait_until(lambda: requests.asked_for(V3) is not None, timeout=SETTLE), requests.asked
    changed, others = requests.asked_for(V3) or ([], [])
    assert changed == []  # nothing new to parse: etl.py is gone and report.py unchanged
    assert others == ["report.py"]  # one file to parse, so that the processor refreshes
