"""The import gate's setting, override field and honest "skipped" (no Airflow needed)."""

from __future__ import annotations

import httpx

from tests.support.bundles import dag_file, make_bundle
from tests.support.server import Api

BUNDLE = make_bundle({"etl.py": dag_file("etl")})


def _deploy(api: Api, deployment_id: str, **fields: str) -> httpx.Response:
    return api.post(
        f"/api/v1/deployments/{deployment_id}/deploys",
        data={"type": "DAG_ONLY", **fields},
        files={"dags": ("dags.tar.gz", BUNDLE, "application/gzip")},
    )


def test_dag_import_check_defaults_to_block_and_is_set_with_patch(api: Api) -> None:
    dep = api.new_deployment()
    assert dep["dag_import_check"] == "block"
    patched = api.ok(
        api.patch(f"/api/v1/deployments/{dep['id']}", json={"dag_import_check": "warn"})
    )
    assert patched["dag_import_check"] == "warn"
    bad = api.patch(f"/api/v1/deployments/{dep['id']}", json={"dag_import_check": "maybe"})
    assert bad.status_code == 400, bad.text
    assert api.ok(api.get(f"/api/v1/deployments/{dep['id']}"))["dag_import_check"] == "warn"


def test_without_an_airflow_environment_the_deploy_records_skipped_and_why(api: Api) -> None:
    dep = api.new_deployment()
    deploy = api.ok(_deploy(api, dep["id"]), 201)
    check = deploy["import_check"]
    assert check["status"] == "skipped"
    assert "no Airflow 2.10.4 environment" in check["reason"]
    assert deploy["dag_ids"] is None


def test_off_records_off_and_a_bad_override_value_changes_nothing(api: Api) -> None:
    dep = api.new_deployment()
    api.ok(api.patch(f"/api/v1/deployments/{dep['id']}", json={"dag_import_check": "off"}))
    bad = _deploy(api, dep["id"], allow_import_errors="perhaps")
    assert bad.status_code == 400, bad.text
    assert bad.json()["error"]["field"] == "allow_import_errors"
    assert api.history(dep["id"]) == []
    deploy = api.ok(_deploy(api, dep["id"]), 201)
    assert deploy["import_check"]["status"] == "off"
