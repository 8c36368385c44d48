"""A Deployment with rollbacks on and a short history, for rollback tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.bundles import dag_file, make_bundle
from tests.support.server import Api

BUNDLE_V1 = make_bundle({"etl.py": dag_file("etl", marker="v1"), "old_only.py": dag_file("old")})
BUNDLE_V2 = make_bundle({"etl.py": dag_file("etl", marker="v2"), "new_only.py": dag_file("new")})


@dataclass
class History:
    deployment: dict[str, Any]
    v1: dict[str, Any]
    v2: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.deployment["id"])


def make_history(
    api: Api,
    *,
    name: str = "sales",
    runtime_v1: str = "12.4.0",
    runtime_v2: str = "12.4.0",
    mode: str = "dag_deploy",
    rollback_enabled: bool = True,
) -> History:
    dep = api.new_deployment(
        name,
        runtime_version=runtime_v1,
        dag_deploy_mode=mode,
        description="the sales pipelines",
        executor="KubernetesExecutor",
        resources={"scheduler": {"replicas": 2, "cpu": "1"}},
        env_vars=[{"key": "REGION", "value": "eu"}, {"key": "PW", "value": "s", "is_secret": True}],
    )
    v1 = api.ok(
        api.deploy(
            dep["id"],
            type="IMAGE_AND_DAG",
            image="repo/img:1",
            runtime_version=runtime_v1,
            dags=BUNDLE_V1,
        ),
        201,
    )
    v2 = api.ok(
        api.deploy(
            dep["id"],
            type="IMAGE_AND_DAG",
            image="repo/img:2",
            runtime_version=runtime_v2,
            dags=BUNDLE_V2,
        ),
        201,
    )
    if rollback_enabled:
        api.ok(api.patch(f"/api/v1/deployments/{dep['id']}", json={"rollback_enabled": True}))
    dep = api.ok(api.get(f"/api/v1/deployments/{dep['id']}"))
    return History(deployment=dep, v1=v1, v2=v2)


def rollback(api: Api, history: History, target: dict[str, Any], **body: Any) -> httpx.Response:
    body.setdefault("description", "v2 broke the nightly load")
    return api.post(f"/api/v1/deployments/{history.id}/deploys/{target['id']}/rollback", json=body)


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])
