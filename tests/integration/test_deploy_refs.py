"""A deploy in a path may be its #seq, its sequence number, its id or a unique id prefix;
a miss names what was asked for. On SQLite and PostgreSQL."""

from __future__ import annotations

from tests.support.bundles import dag_file, make_bundle
from tests.support.server import Api


def test_a_deploy_is_found_by_seq_id_and_unique_prefix(api: Api) -> None:
    deployment = api.new_deployment("refs")
    first = api.ok(api.deploy(deployment["id"], dags=make_bundle({"a.py": dag_file("a")})), 201)
    base = f"/api/v1/deployments/{deployment['id']}/deploys"
    for ref in (
        "1",
        "%231",
        first["id"],
        first["id"][:8],
        first["id"][:4],
        first["id"].upper()[:8],
    ):
        assert api.ok(api.get(f"{base}/{ref}"))["id"] == first["id"], ref


def test_a_missing_deploy_is_named_in_the_404(api: Api) -> None:
    deployment = api.new_deployment("refs")
    api.ok(api.deploy(deployment["id"], dags=make_bundle({"a.py": dag_file("a")})), 201)
    base = f"/api/v1/deployments/{deployment['id']}/deploys"
    for ref in ("99", "0", "abc", "zzzzzzzz"):
        response = api.get(f"{base}/{ref}")
        assert response.status_code == 404, ref
        error = response.json()["error"]
        assert error["code"] == "not_found" and f"'{ref}'" in error["message"]


def test_a_deploy_of_another_deployment_is_not_found_by_id_or_prefix(api: Api) -> None:
    mine = api.new_deployment("mine")
    theirs = api.new_deployment("theirs")
    other = api.ok(api.deploy(theirs["id"], dags=make_bundle({"a.py": dag_file("a")})), 201)
    base = f"/api/v1/deployments/{mine['id']}/deploys"
    assert api.get(f"{base}/{other['id']}").status_code == 404
    assert api.get(f"{base}/{other['id'][:8]}").status_code == 404
    rollback = api.post(f"{base}/{other['id']}/rollback", json={"dry_run": True})
    assert rollback.status_code == 404


def test_an_unknown_deployment_is_named_in_the_404(api: Api) -> None:
    response = api.get("/api/v1/deployments/nope")
    assert response.status_code == 404
    assert "'nope'" in response.json()["error"]["message"]
