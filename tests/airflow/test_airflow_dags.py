"""A real Airflow 3 reads what tarmac makes live: through the agent's folder and as a DAG bundle."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.airflow.conftest import Airflow
from tests.e2e.agent.agent_process import (
    AgentProcess,
    agent_token,
    deploy_dags,
    shows,
    wait_until,
)
from tests.e2e.live_state import bundle_files
from tests.support.bundles import dag_file, make_bundle
from tests.support.process import ServerProcess

pytestmark = pytest.mark.airflow

V1 = make_bundle({"etl.py": dag_file("etl", marker="v1"), "v1_report.py": dag_file("v1_report")})
V2 = make_bundle({"etl.py": dag_file("etl", marker="v2"), "v2_ml.py": dag_file("v2_ml")})
V3 = make_bundle({"etl.py": dag_file("etl", marker="v3"), "v3_ml.py": dag_file("v3_ml")})


def _new_deployment(server: ServerProcess, name: str) -> str:
    with server.client() as client:
        response = client.post(
            "/api/v1/deployments",
            json={"name": name, "runtime_version": "3.1-1", "dag_deploy_mode": "dag_deploy"},
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


def _rollback(server: ServerProcess, deployment_id: str, deploy_id: str) -> str:
    with server.client() as client:
        patched = client.patch(
            f"/api/v1/deployments/{deployment_id}", json={"rollback_enabled": True}
        )
        assert patched.status_code == 200, patched.text
        response = client.post(
            f"/api/v1/deployments/{deployment_id}/deploys/{deploy_id}/rollback",
            json={"description": "the ml DAGs broke the scheduler"},
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


def test_dagbag_over_the_agents_folder_sees_v1_after_the_rollback(
    server: ServerProcess, airflow: Airflow, tmp_path: Path
) -> None:
    dep_id = _new_deployment(server, "airflow-agent")
    v1 = deploy_dags(server.client(), dep_id, V1)
    agent = AgentProcess(
        server_url=server.url,
        token=agent_token(server, dep_id),
        deployment_id=dep_id,
        root=tmp_path / "scheduler",
    )
    agent.start()
    try:
        for bundle in (V2, V3):
            deploy_dags(server.client(), dep_id, bundle)
            assert wait_until(shows([agent], bundle), timeout=60), agent.log()
        assert airflow.dagbag(agent.dags_folder)["dag_ids"] == ["etl", "v3_ml"]

        _rollback(server, dep_id, v1["id"])
        assert wait_until(shows([agent], V1), timeout=60), agent.log()
        seen = airflow.dagbag(agent.dags_folder)
    finally:
        assert agent.stop() == 0
    assert seen == {"dag_ids": ["etl", "v1_report"], "import_errors": {}}


def test_the_dag_bundle_versions_are_deploys_and_old_versions_stay_readable(
    server: ServerProcess, airflow: Airflow
) -> None:
    dep_id = _new_deployment(server, "airflow-bundle")
    # keep=1: the cache keeps only the live bundle, yet old versions must stay readable.
    airflow.configure_bundle(
        name="dags",
        token=agent_token(server, dep_id),
        server_url=server.url,
        deployment_id=dep_id,
        keep=1,
    )
    v1 = deploy_dags(server.client(), dep_id, V1)
    tracking = airflow.bundle("dags")
    assert tracking["class"] == "TarmacDagBundle"
    assert tracking["supports_versioning"] is True
    assert tracking["version"] == v1["id"]
    assert tracking["dagbag"]["dag_ids"] == ["etl", "v1_report"]

    # A DAG run started on v1 asks for its version (a worker building the bundle).
    pinned = airflow.bundle("dags", version=v1["id"])
    assert pinned["version"] == v1["id"]
    assert pinned["path"].endswith(f"/versions/{v1['id']}")

    v2 = deploy_dags(server.client(), dep_id, V2)
    tracking = airflow.bundle("dags", refresh=True)
    assert tracking["version"] == v2["id"]
    assert tracking["dagbag"]["dag_ids"] == ["etl", "v2_ml"]

    # v2 is live and v1's unpacked bundle is pruned (keep=1): v1's version path still reads.
    cached = list((airflow.bundle_storage / "dags" / "tarmac" / "bundles").iterdir())
    assert [entry.name for entry in cached if not entry.name.startswith(".")] == [
        v2["bundle_sha256"]
    ]
    v1_files = {name: data.decode() for name, data in bundle_files(V1).items()}
    assert Path(pinned["path"]).is_dir()
    assert {
        str(p.relative_to(pinned["path"])): p.read_text()
        for p in Path(pinned["path"]).rglob("*")
        if p.is_file()
    } == v1_files
    again = airflow.bundle("dags", version=v1["id"])
    assert again["files"] == v1_files
    assert again["dagbag"]["dag_ids"] == ["etl", "v1_report"]

    rollback_id = _rollback(server, dep_id, v1["id"])
    tracking = airflow.bundle("dags", refresh=True)
    assert tracking["version"] == rollback_id, "the rollback is a new deploy, so a new version"
    assert tracking["files"] == v1_files
