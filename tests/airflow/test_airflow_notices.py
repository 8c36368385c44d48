"""A real Airflow notices every deploy and rollback: its serialized DAGs show the live code.

``min_file_process_interval`` is set far beyond the waits (tests/support/
airflow_processes.py), so Airflow re-parses a file it parsed before only because the
switch gave the changed files a new mtime: without that, the rollback to the older,
already unpacked bundle would not reach Airflow's database within these waits.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
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


def test_airflow_3_dag_processor_on_the_dag_bundle_sees_deploy_and_rollback(
    server: ServerProcess, processors: list[DagProcessor], tmp_path: Path
) -> None:
    dep_id = _new_deployment(server, "notices-af3")
    deploy_dags(server.client(), dep_id, V1)
    processor = DagProcessor(
        venv=_venv("3.1.8"),
        home=tmp_path / "airflow3",
        env={
            "TARMAC_TOKEN": agent_token(server, dep_id),
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": (
                '[{"name": "dags", "classpath": "tarmac.airflow.bundle.TarmacDagBundle",'
                f' "kwargs": {{"server_url": "{server.url}", "deployment_id": "{dep_id}"}}}}]'
            ),
        },
    )
    processor.migrate()
    processor.start()
    processors.append(processor)
    _walk_deploy_and_rollback(server, dep_id, processor)


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
