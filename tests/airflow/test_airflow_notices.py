"""A real Airflow notices every deploy and rollback: its serialized DAGs show the live code.

``min_file_process_interval`` is set far beyond the waits (tests/support/
airflow_processes.py), so Airflow re-parses a file it parsed before only because the
switch gave the changed files a new mtime: without that, the rollback to the older,
already unpacked bundle would not reach Airflow's database within these waits.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.airflow.test_airflow_dags import _new_deployment, _rollback
from tests.e2e.agent.agent_process import AgentProcess, agent_token, deploy_dags, wait_until
from tests.support.airflow_envs import WARM_VENVS
from tests.support.airflow_processes import DagProcessor, dag_source
from tests.support.bundles import make_bundle
from tests.support.process import ServerProcess

pytestmark = pytest.mark.airflow

V1 = make_bundle({"etl.py": dag_source("etl", "v1"), "report.py": dag_source("report", "v1")})
V2 = make_bundle(
    {
        "etl.py": dag_source("etl", "v2"),
        "report.py": dag_source("report", "v1"),
        "ml.py": dag_source("ml", "v2"),
    }
)
WAIT = float(
    os.environ.get("TARMAC_TEST_AIRFLOW_WAIT", "120")
)  # generous for a loaded 2-core machine; far below min_file_process_interval


def _venv(version: str) -> Path:
    venv = WARM_VENVS[version]
    if not (venv / "bin" / "python").exists():
        if os.environ.get("CI"):
            pytest.fail(f"no Airflow {version} venv at {venv}")
        pytest.skip(f"no Airflow {version} venv at {venv}")
    return venv


@pytest.fixture
def processors() -> Iterator[list[DagProcessor]]:
    started: list[DagProcessor] = []
    yield started
    for processor in started:
        processor.stop()


def _walk_deploy_and_rollback(server: ServerProcess, dep_id: str, processor: DagProcessor) -> None:
    """v1 live → v2 (changes etl, adds ml) → roll back to v1, waiting for Airflow each time."""
    assert wait_until(lambda: processor.description("etl") == "v1", timeout=WAIT, interval=0.5), (
        processor.log()
    )
    deploy_dags(server.client(), dep_id, V2)
    assert wait_until(lambda: processor.description("ml") == "v2", timeout=WAIT, interval=0.5), (
        processor.log()
    )
    assert wait_until(lambda: processor.description("etl") == "v2", timeout=WAIT, interval=0.5)
    v1_id = deploys_by_bundle(server, dep_id, V1)
    _rollback(server, dep_id, v1_id)
    assert wait_until(lambda: processor.description("etl") == "v1", timeout=WAIT, interval=0.5), (
        processor.log()
    )
    assert processor.description("report") == "v1"


def deploys_by_bundle(server: ServerProcess, dep_id: str, bundle: bytes) -> str:
    import hashlib

    sha = hashlib.sha256(bundle).hexdigest()
    with server.client() as client:
        items = client.get(f"/api/v1/deployments/{dep_id}/deploys").json()["items"]
    return str(next(d["id"] for d in reversed(items) if d["bundle_sha256"] == sha))


def _bundle_processor(
    server: ServerProcess, dep_id: str, home: Path, **bundle_kwargs: object
) -> DagProcessor:
    """A started Airflow 3.1 DAG processor on tarmac's DAG bundle of ``dep_id``."""
    kwargs = {"server_url": server.url, "deployment_id": dep_id, **bundle_kwargs}
    bundles = [{"name": "dags", "classpath": "tarmac.airflow.bundle.TarmacDagBundle"}]
    processor = DagProcessor(
        venv=_venv("3.1.8"),
        home=home,
        env={
            "TARMAC_TOKEN": agent_token(server, dep_id),
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(
                [{**bundles[0], "kwargs": kwargs}]
            ),
        },
    )
    processor.migrate()
    processor.start()
    return processor


def _assert_airflow_records_the_live_version(
    server: ServerProcess, dep_id: str, processor: DagProcessor
) -> None:
    """Airflow's record of the bundle's newest version is the deploy now live. (The
    bundle's own database work once committed and closed the DAG processor's session
    under it, so this stayed empty and the processor refreshed at every check.)"""
    with server.client() as client:
        live = client.get(f"/api/v1/deployments/{dep_id}").json()["current_deploy_id"]
    assert wait_until(lambda: processor.bundle_version("dags") == live, timeout=WAIT), (
        processor.bundle_version("dags")
    )


@pytest.mark.parametrize(
    "bundle_kwargs",
    [
        # By the DAG processor's refreshes alone (every 2 s here).
        pytest.param({"watch": False}, id="refreshes"),
        # The bundle's refresh_interval is an hour, so only its watch (a long poll woken
        # at commit, which asks Airflow to refresh and parse the changed files) can bring
        # v2 and the rollback to v1 into Airflow within these waits.
        pytest.param({"refresh_interval": 3600}, id="watch"),
    ],
)
def test_airflow_3_dag_processor_on_the_dag_bundle_sees_deploy_and_rollback(
    server: ServerProcess,
    processors: list[DagProcessor],
    tmp_path: Path,
    bundle_kwargs: dict[str, object],
) -> None:
    dep_id = _new_deployment(server, "notices-af3")
    deploy_dags(server.client(), dep_id, V1)
    processor = _bundle_processor(server, dep_id, tmp_path / "airflow3", **bundle_kwargs)
    processors.append(processor)
    _walk_deploy_and_rollback(server, dep_id, processor)
    _assert_airflow_records_the_live_version(server, dep_id, processor)


def test_airflow_2_scheduler_fed_by_the_agent_sees_deploy_and_rollback(
    server: ServerProcess, processors: list[DagProcessor], tmp_path: Path
) -> None:
    dep_id = _new_deployment(server, "notices-af2")
    deploy_dags(server.client(), dep_id, V1)
    agent = AgentProcess(
        server_url=server.url,
        token=agent_token(server, dep_id),
        deployment_id=dep_id,
        root=tmp_path / "agent",
    )
    agent.start()
    try:
        assert wait_until(lambda: agent.dags_folder.is_dir(), timeout=30), agent.log()
        processor = DagProcessor(
            venv=_venv("2.10.5"),
            home=tmp_path / "airflow2",
            env={"AIRFLOW__CORE__DAGS_FOLDER": str(agent.dags_folder)},
            command="scheduler",
        )
        processor.migrate()
        processor.start()
        processors.append(processor)
        _walk_deploy_and_rollback(server, dep_id, processor)
    finally:
        agent.stop()


def slow_dag_source(dag_id: str) -> str:
    """A DAG whose file takes half a second to import: a parse cycle that takes a while."""
    return "import time\ntime.sleep(0.5)\n" + dag_source(dag_id, "same")


SLOW = {f"slow_{n:02d}.py": slow_dag_source(f"slow_{n:02d}") for n in range(16)}


def test_airflow_2_parses_the_changed_file_next_even_in_the_middle_of_a_cycle(
    server: ServerProcess, processors: list[DagProcessor], tmp_path: Path
) -> None:
    """Airflow 2 re-reads mtimes only when its parse queue is empty. With a cycle always
    under way (16 slow files, ``min_file_process_interval`` 1 s), the agent's request in
    ``dag_priority_parsing_request`` puts the changed file at the front: the new code is
    in Airflow's database before the cycle under way parsed more than a few other files,
    and a new file's DAG appears though Airflow does not list the folder meanwhile.

    The switch is made just after Airflow parsed etl.py at the start of a cycle (it has
    the newest mtime, and ``file_parsing_sort_mode = modified_time`` puts it first), so the
    16 slow files are still queued: the worst case, where a touch alone waits for them all.
    """
    dep_id = _new_deployment(server, "notices-mid-cycle")
    deploy_dags(server.client(), dep_id, make_bundle({"etl.py": dag_source("etl", "v1"), **SLOW}))
    home = tmp_path / "airflow2"
    processor = DagProcessor(
        venv=_venv("2.10.5"),
        home=home,
        env={
            "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "agent" / "dags"),
            "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "1",
            # No listing during the test: only the agent's request can bring fresh.py in.
            "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "3600",
        },
        command="scheduler",
    )
    processor.migrate()
    agent = AgentProcess(
        server_url=server.url,
        token=agent_token(server, dep_id),
        deployment_id=dep_id,
        root=tmp_path / "agent",
        env={"TARMAC_AIRFLOW_DATABASE_URL": f"sqlite:///{processor.database}"},
    )
    agent.start()
    try:
        assert wait_until(lambda: agent.dags_folder.is_dir(), timeout=30), agent.log()
        os.utime(agent.dags_folder / "etl.py")  # first in every cycle: see the docstring
        processor.start()
        processors.append(processor)
        every = {"etl", *(name.removesuffix(".py") for name in SLOW)}
        assert wait_until(
            lambda: processor.serialized_dag_ids() >= every, timeout=WAIT * 2, interval=0.5
        ), processor.log()
        assert processor.description("etl") == "v1"
        cycle_ended = datetime.now(UTC)
        assert wait_until(
            lambda: "etl" in processor.parsed_since(cycle_ended), timeout=WAIT, interval=0.05
        ), processor.log()

        v2 = {"etl.py": dag_source("etl", "v2"), "fresh.py": dag_source("fresh", "v2"), **SLOW}
        deploy_dags(server.client(), dep_id, make_bundle(v2))
        assert wait_until(lambda: _shows(agent.dags_folder, "v2"), timeout=30), agent.log()
        switched = datetime.now(UTC)
        assert wait_until(lambda: processor.description("etl") == "v2", timeout=WAIT), (
            processor.log()
        )

        # What was being parsed when the request came, and at most one more: not the cycle.
        parsed_meanwhile = processor.parsed_since(switched) - {"etl", "fresh"}
        assert len(parsed_meanwhile) <= 3, sorted(parsed_meanwhile)
        assert wait_until(lambda: processor.description("fresh") == "v2", timeout=WAIT), (
            processor.log()
        )
    finally:
        agent.stop()


def _shows(folder: Path, marker: str) -> bool:
    try:
        return f"description={marker!r}" in (folder / "etl.py").read_text()
    except OSError:
        return False


def test_airflow_3_parses_the_changed_file_next_even_in_the_middle_of_a_cycle(
    server: ServerProcess, processors: list[DagProcessor], tmp_path: Path
) -> None:
    """The same on Airflow 3.1 with the DAG bundle: after a version change Airflow re-sorts
    only the files still queued, so a file parsed earlier in the cycle waited for the
    rest of it; the bundle's request puts it first."""
    dep_id = _new_deployment(server, "notices-mid-cycle-af3")
    deploy_dags(server.client(), dep_id, make_bundle({"etl.py": dag_source("etl", "v1"), **SLOW}))
    home = tmp_path / "airflow3"
    processor = DagProcessor(
        venv=_venv("3.1.8"),
        home=home,
        env={
            "TARMAC_TOKEN": agent_token(server, dep_id),
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": (
                '[{"name": "dags", "classpath": "tarmac.airflow.bundle.TarmacDagBundle",'
                f' "kwargs": {{"server_url": "{server.url}", "deployment_id": "{dep_id}"}}}}]'
            ),
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "1",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        },
    )
    processor.migrate()
    processor.start()
    processors.append(processor)

    def live_folder() -> Path | None:
        return next((home / "dag_bundles").glob("**/tarmac/dags"), None)

    assert wait_until(lambda: live_folder() is not None, timeout=WAIT), processor.log()
    folder = live_folder()
    assert folder is not None
    os.utime(folder / "etl.py")  # the newest file: first in every cycle from the next one
    every = {"etl", *(name.removesuffix(".py") for name in SLOW)}
    assert wait_until(
        lambda: processor.serialized_dag_ids() >= every, timeout=WAIT * 2, interval=0.5
    ), processor.log()
    cycle_ended = datetime.now(UTC)
    assert wait_until(
        lambda: "etl" in processor.parsed_since(cycle_ended), timeout=WAIT, interval=0.05
    ), processor.log()

    v2 = {"etl.py": dag_source("etl", "v2"), "fresh.py": dag_source("fresh", "v2"), **SLOW}
    deploy_dags(server.client(), dep_id, make_bundle(v2))
    assert wait_until(lambda: _shows(folder, "v2"), timeout=WAIT), processor.log()
    switched = datetime.now(UTC)
    assert wait_until(lambda: processor.description("etl") == "v2", timeout=WAIT), processor.log()

    parsed_meanwhile = processor.parsed_since(switched) - {"etl", "fresh"}
    assert len(parsed_meanwhile) <= 3, sorted(parsed_meanwhile)
    assert wait_until(lambda: processor.description("fresh") == "v2", timeout=WAIT), processor.log()
