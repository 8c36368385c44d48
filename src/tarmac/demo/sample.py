"""The demo's sample Deployment: three deploys of small DAGs, one on an older runtime."""

from __future__ import annotations

import io
import tarfile

import httpx

DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password"
VIEWER_USER = "viewer"
VIEWER_PASSWORD = "viewer-password"

VALUES_YAML = """\
astronomer:
  houston:
    config:
      deployments:
        enableUpdateDeploymentImageEndpoint: true
global:
  deployRollbackEnabled: true
  dagOnlyDeployment:
    enabled: true
houston:
  cleanupDeployRevisions:
    enabled: true
    olderThan: 90
"""


def _dag(dag_id: str, *, tasks: int, note: str) -> str:
    steps = "\n".join(f"    t{i} = EmptyOperator(task_id='step_{i}')" for i in range(tasks))
    return (
        f'"""{note}"""\n'
        "from datetime import datetime\n\n"
        "from airflow import DAG\n"
        "from airflow.operators.empty import EmptyOperator\n\n"
        f"with DAG(dag_id={dag_id!r}, start_date=datetime(2024, 1, 1), schedule='@daily',"
        " catchup=False):\n"
        f"{steps}\n"
    )


def _bundle(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


DEPLOYS = [
    {
        "form": {
            "type": "IMAGE_AND_DAG",
            "image": "example/sales-etl:1.0",
            "runtime_version": "12.4.0",
            "description": "First release on Airflow 2.10",
        },
        "files": {
            "sales_daily.py": _dag("sales_daily", tasks=3, note="Daily sales load."),
            "inventory.py": _dag("inventory", tasks=2, note="Inventory snapshot."),
        },
    },
    {
        "form": {
            "type": "IMAGE_AND_DAG",
            "image": "example/sales-etl:2.0",
            "runtime_version": "3.1-2",
            "description": "Upgrade to Airflow 3.1",
        },
        "files": {
            "sales_daily.py": _dag("sales_daily", tasks=4, note="Now with dedupe."),
            "inventory.py": _dag("inventory", tasks=2, note="Inventory snapshot."),
            "forecast.py": _dag("forecast", tasks=2, note="New forecast DAG."),
        },
    },
    {
        "form": {"type": "DAG_ONLY", "description": "Tweak the sales DAG (breaks the load)"},
        "files": {
            "sales_daily.py": _dag("sales_daily", tasks=5, note="Oops: wrong table."),
            "inventory.py": _dag("inventory", tasks=2, note="Inventory snapshot."),
            "forecast.py": _dag("forecast", tasks=2, note="New forecast DAG."),
        },
    },
]


def seed_demo(client: httpx.Client) -> dict[str, str]:
    """Create the demo users, Deployment and deploys through the API (idempotent)."""
    existing = client.get("/api/v1/deployments").json()["items"]
    if any(d["name"] == "Sales ETL" for d in existing):
        return {d["name"]: d["id"] for d in existing}
    _check(
        client.post(
            "/api/v1/users",
            json={"username": DEMO_USER, "password": DEMO_PASSWORD, "system_role": "SYSTEM_ADMIN"},
        )
    )
    viewer = _check(
        client.post("/api/v1/users", json={"username": VIEWER_USER, "password": VIEWER_PASSWORD})
    )
    deployment = _check(
        client.post(
            "/api/v1/deployments",
            json={
                "name": "Sales ETL",
                "description": "Nightly sales and inventory pipelines",
                "runtime_version": "12.4.0",
                "dag_deploy_mode": "dag_deploy",
                "executor": "CeleryExecutor",
                "resources": {"scheduler": {"replicas": 1, "cpu": "1"}},
                "env_vars": [
                    {"key": "WAREHOUSE", "value": "analytics"},
                    {"key": "WAREHOUSE_PASSWORD", "value": "s3cret", "is_secret": True},
                ],
            },
        )
    )
    _check(
        client.put(
            f"/api/v1/deployments/{deployment['id']}/members/{viewer['id']}",
            json={"role": "DEPLOYMENT_VIEWER"},
        )
    )
    for deploy in DEPLOYS:
        files = {"dags": ("dags.tar.gz", _bundle(deploy["files"]), "application/gzip")}
        _check(
            client.post(
                f"/api/v1/deployments/{deployment['id']}/deploys", data=deploy["form"], files=files
            )
        )
    _check(client.patch(f"/api/v1/deployments/{deployment['id']}", json={"rollback_enabled": True}))
    return {"Sales ETL": deployment["id"]}


def _check(response: httpx.Response) -> dict[str, str]:
    if response.is_error:
        raise RuntimeError(f"demo seeding failed: {response.status_code} {response.text}")
    return response.json()  # type: ignore[no-any-return]
