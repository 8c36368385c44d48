"""A deploy that a running Airflow 3 DAG run still reads (reported by the DAG bundle) is
kept by cleanup until the report expires; then it goes like any other."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from tarmac.db.base import utcnow
from tarmac.deploys.models import Deploy
from tests.integration.test_cleanup import (
    bundle,
    cleanup,
    deploy,
    installation_of,
    set_created_at,
)
from tests.support.server import Api


def _agent(api: Api, deployment_id: str) -> Api:
    user_id, _ = api.new_user("dag-bundle", "SYSTEM_VIEWER")
    token = api.ok(
        api.post(
            f"/api/v1/users/{user_id}/tokens",
            json={"name": "bundle", "deployment_id": deployment_id},
        ),
        201,
    )
    return api.as_token(token["token"])


def _in_use(agent: Api, deployment_id: str, deploy_id: str, seconds: int = 3600) -> object:
    return agent.put(
        f"/api/v1/deployments/{deployment_id}/deploys/{deploy_id}/in-use",
        json={"seconds": seconds},
    )


def test_cleanup_keeps_a_version_in_use_until_the_report_expires(api: Api) -> None:
    dep = api.new_deployment()
    old = deploy(api, dep["id"], bundle("old"))
    deploy(api, dep["id"], bundle("new"))
    set_created_at(api, old["id"], utcnow() - timedelta(days=400))
    agent = _agent(api, dep["id"])
    reported = api.ok(_in_use(agent, dep["id"], old["id"]))
    assert reported["deploy_id"] == old["id"] and reported["in_use_until"]

    assert cleanup(api)["deleted_deploys"] == 0
    assert old["id"] in {d["id"] for d in api.history(dep["id"])}
    assert agent.get(f"/api/v1/deployments/{dep['id']}/dags/deploys/{old['id']}").status_code == 200

    with installation_of(api).database.session(write=True) as session:  # the run ended
        session.execute(
            update(Deploy)
            .where(Deploy.id == old["id"])
            .values(in_use_until=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    assert cleanup(api)["deleted_deploys"] == 1
    assert old["id"] not in {d["id"] for d in api.history(dep["id"])}


def test_a_report_never_shortens_an_earlier_one(api: Api) -> None:
    dep = api.new_deployment()
    first = deploy(api, dep["id"], bundle("a"))
    agent = _agent(api, dep["id"])
    long = api.ok(_in_use(agent, dep["id"], first["id"], seconds=86_400))
    short = api.ok(_in_use(agent, dep["id"], first["id"], seconds=60))
    assert short["in_use_until"] == long["in_use_until"]


def test_bad_reports_are_refused_and_change_nothing(api: Api) -> None:
    dep = api.new_deployment()
    other = api.new_deployment("other")
    first = deploy(api, dep["id"], bundle("a"))
    agent = _agent(api, dep["id"])
    for seconds in (0, -5, 8 * 86_400):
        refused = _in_use(agent, dep["id"], first["id"], seconds=seconds)
        assert refused.status_code == 400  # type: ignore[attr-defined]
    missing = _in_use(agent, dep["id"], "no-such-deploy")
    assert missing.status_code == 404  # type: ignore[attr-defined]
    foreign = _in_use(agent, other["id"], first["id"])
    assert foreign.status_code in (403, 404)  # type: ignore[attr-defined]
    with installation_of(api).database.session() as session:
        assert session.get(Deploy, first["id"]).in_use_until is None  # type: ignore[union-attr]
