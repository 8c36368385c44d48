"""Two real agents follow a real server: deploys, an instant rollback, an outage, a restart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from tests.e2e.agent.agent_process import (
    AgentProcess,
    agent_token,
    deploy_dags,
    shows,
    wait_until,
)
from tests.support.bundles import dag_file, make_bundle
from tests.support.process import ServerProcess

V1 = make_bundle({"etl.py": dag_file("etl", marker="v1"), "v1_only.py": dag_file("v1_only")})
V2 = make_bundle({"etl.py": dag_file("etl", marker="v2"), "v2_only.py": dag_file("v2_only")})
V3 = make_bundle({"etl.py": dag_file("etl", marker="v3"), "v3_only.py": dag_file("v3_only")})
V4 = make_bundle({"etl.py": dag_file("etl", marker="v4"), "v4_only.py": dag_file("v4_only")})

SETTLE_DEADLINE = 60.0
"""A generous bound on "it happened at all"; how fast agents switch is measured by
bench/agent_switch.py, never asserted here."""


def test_agents_follow_deploys_roll_back_at_once_and_survive_an_outage(
    server: ServerProcess, tmp_path: Path
) -> None:
    client = server.client()
    deployment = client.post(
        "/api/v1/deployments",
        json={"name": "sales", "runtime_version": "12.4.0", "dag_deploy_mode": "dag_deploy"},
    ).json()
    dep_id = deployment["id"]
    v1 = deploy_dags(client, dep_id, V1)
    token = agent_token(server, dep_id)
    agents = [
        AgentProcess(server_url=server.url, token=token, deployment_id=dep_id, root=tmp_path / name)
        for name in ("scheduler", "worker")
    ]
    for agent in agents:
        agent.start()
    try:
        assert wait_until(shows(agents, V1), timeout=SETTLE_DEADLINE), agents[0].log()
        deploy_dags(client, dep_id, V2)
        assert wait_until(shows(agents, V2), timeout=SETTLE_DEADLINE), agents[0].log()
        deploy_dags(client, dep_id, V3)
        assert wait_until(shows(agents, V3), timeout=SETTLE_DEADLINE), agents[0].log()
        # Holds off: the deploy after the rollback is about agents, not the hold.
        patched = client.patch(
            f"/api/v1/deployments/{dep_id}",
            json={"rollback_enabled": True, "rollback_hold_enabled": False},
        )
        assert patched.status_code == 200, patched.text

        response = client.post(
            f"/api/v1/deployments/{dep_id}/deploys/{v1['id']}/rollback",
            json={"description": "v3 broke the nightly load"},
        )
        assert response.status_code == 201, response.text
        assert wait_until(shows(agents, V1), timeout=SETTLE_DEADLINE), agents[0].log()
        rollback_id = response.json()["id"]
        for agent in agents:
            assert wait_until(_logged(agent, f"to deploy {rollback_id}"), timeout=SETTLE_DEADLINE)
            switch = next(x for x in agent.log().splitlines() if f"to deploy {rollback_id}" in x)
            assert "cached" in switch, "a rollback to a kept bundle downloads nothing"

        server.stop()
        for agent in agents:  # each notices the outage and keeps retrying, on v1
            assert wait_until(_logged(agent, "retrying in"), timeout=SETTLE_DEADLINE)
            assert agent.running, agent.log()
            assert shows([agent], V1)()

        server.start()
        deploy_dags(server.client(), dep_id, V4)
        assert wait_until(shows(agents, V4), timeout=SETTLE_DEADLINE), agents[0].log()
    finally:
        codes = [agent.stop() for agent in agents if agent.process is not None]
    assert codes == [0, 0]
    assert "agent stopped" in agents[0].log()


def test_once_syncs_and_exits_zero_or_fails_without_a_server(
    server: ServerProcess, tmp_path: Path
) -> None:
    client = server.client()
    deployment = client.post(
        "/api/v1/deployments",
        json={"name": "once", "runtime_version": "12.4.0", "dag_deploy_mode": "dag_deploy"},
    ).json()
    deploy_dags(client, deployment["id"], V2)
    agent = AgentProcess(
        server_url=server.url,
        token=agent_token(server, deployment["id"]),
        deployment_id=deployment["id"],
        root=tmp_path / "once",
    )
    result = agent.run_once()
    assert result.returncode == 0, result.stderr
    assert shows([agent], V2)()

    server.stop()
    result = agent.run_once()
    assert result.returncode != 0
    assert "unreachable" in result.stderr
    assert shows([agent], V2)(), "a failed sync keeps the last good code"


def test_agent_token_reads_only_its_deployment(server: ServerProcess) -> None:
    client = server.client()
    body = {"runtime_version": "12.4.0", "dag_deploy_mode": "dag_deploy"}
    mine = client.post("/api/v1/deployments", json={"name": "mine", **body}).json()
    other = client.post("/api/v1/deployments", json={"name": "other", **body}).json()
    deploy_dags(client, other["id"], V3)
    token = agent_token(server, mine["id"])
    agent = server.client(token)
    assert agent.get(f"/api/v1/deployments/{mine['id']}/dags/current").status_code == 200
    assert agent.get(f"/api/v1/deployments/{other['id']}/dags/current").status_code in (403, 404)
    assert agent.get(f"/api/v1/deployments/{mine['id']}/deploys").status_code == 403
    assert deploy_dags_refused(agent, mine["id"])


def deploy_dags_refused(client: httpx.Client, deployment_id: str) -> bool:
    response = client.post(
        f"/api/v1/deployments/{deployment_id}/deploys",
        data={"type": "DAG_ONLY"},
        files={"dags": ("dags.tar.gz", V1, "application/gzip")},
    )
    return response.status_code == 403


def _logged(agent: AgentProcess, text: str) -> Callable[[], bool]:
    return lambda: text in agent.log()
