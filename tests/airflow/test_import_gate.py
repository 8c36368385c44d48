"""The import gate on real Airflow: the target runtime's own Airflow parses every deploy.

Airflow 2.10.5 and 3.1.8 come from prebuilt virtualenvs seeded into an EnvironmentCache
(tests/support/airflow_envs.py); the server finds them exactly as it finds built ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.airflow_envs import seeded_cache, write_catalog
from tests.support.bundles import dag_file, make_bundle
from tests.support.server import Api, running_tarmac

pytestmark = pytest.mark.airflow

AIRFLOW_2 = "12.5.0"  # Airflow 2.10.5 in tests/support/airflow_envs.py's catalog
AIRFLOW_3 = "3.1-9"  # Airflow 3.1.8
IMAGE = "quay.io/astronomer/astro-runtime:{}"
GOOD = make_bundle({"etl.py": dag_file("etl")})

BROKEN = {
    "syntax_error": (dag_file("ml").replace("pass", "pass)"), "SyntaxError"),
    "missing_module": ("import tarmac_no_such_module\n" + dag_file("ml"), "ModuleNotFoundError"),
    "airflow3_only": (
        "from datetime import datetime\nfrom airflow.sdk import DAG\n"
        "with DAG(dag_id='ml', start_date=datetime(2024, 1, 1), schedule=None):\n    pass\n",
        "No module named 'airflow.sdk'",
    ),
    "hangs_at_import": (
        "import time\nfrom airflow import DAG\ntime.sleep(3600)\n",
        "timeout",
    ),
}


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[Api]:
    seeded_cache(tmp_path / "environments", "2.10.5", "3.1.8")
    with running_tarmac(
        data_dir=tmp_path / "data",
        database_url=database_url,
        runtime_env_dir=tmp_path / "environments",
        import_check_build_environments=False,
        import_check_file_timeout_seconds=3,
        runtime_catalog_file=write_catalog(tmp_path / "runtimes.json"),
    ) as client:
        yield client


def _deployment(api: Api, runtime: str, **fields: Any) -> dict[str, Any]:
    return api.new_deployment(runtime_version=runtime, **fields)


def _deploy(api: Api, deployment_id: str, bundle: bytes, **fields: str) -> httpx.Response:
    return api.post(
        f"/api/v1/deployments/{deployment_id}/deploys",
        data={"type": "DAG_ONLY", **fields},
        files={"dags": ("dags.tar.gz", bundle, "application/gzip")},
    )


def _events(api: Api) -> list[dict[str, Any]]:
    data_dir = Path(api.client.app.state.installation.data_dir)  # type: ignore[attr-defined]
    path = data_dir / "events" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_dags_that_do_not_import_in_the_target_airflow_are_refused(api: Api, case: str) -> None:
    dep = _deployment(api, AIRFLOW_2)
    first = api.ok(_deploy(api, dep["id"], GOOD), 201)
    assert first["dag_ids"] == ["etl"]
    assert first["import_check"]["status"] == "passed"
    assert first["import_check"]["airflow_version"] == "2.10.5"
    source, expected = BROKEN[case]
    bad = make_bundle({"etl.py": dag_file("etl"), "ml.py": source})

    response = _deploy(api, dep["id"], bad)

    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "dag_import_errors"
    assert error["airflow_version"] == "2.10.5"
    assert [e["file"] for e in error["errors"]] == ["ml.py"]
    assert expected.lower() in error["errors"][0]["error"].lower()
    history = api.history(dep["id"])
    assert [d["id"] for d in history] == [first["id"]]
    assert api.ok(api.get(f"/api/v1/deployments/{dep['id']}"))["current_deploy_id"] == first["id"]


def test_the_same_airflow3_code_passes_on_an_airflow3_runtime(api: Api) -> None:
    dep = _deployment(api, AIRFLOW_3)
    source, _ = BROKEN["airflow3_only"]
    deploy = api.ok(_deploy(api, dep["id"], make_bundle({"ml.py": source})), 201)
    assert deploy["status"] == "DEPLOYED"
    assert deploy["dag_ids"] == ["ml"]
    assert deploy["import_check"]["airflow_version"] == "3.1.8"
    assert api.history(dep["id"])[0]["dag_ids"] == ["ml"]


def test_an_admin_override_goes_live_and_is_recorded_an_editor_may_not(api: Api) -> None:
    dep = _deployment(api, AIRFLOW_2)
    api.ok(_deploy(api, dep["id"], GOOD), 201)
    editor_id, editor = api.new_user("editor")
    api.ok(
        api.put(
            f"/api/v1/deployments/{dep['id']}/members/{editor_id}",
            json={"role": "DEPLOYMENT_EDITOR"},
        )
    )
    bad = make_bundle({"etl.py": dag_file("etl"), "ml.py": BROKEN["syntax_error"][0]})

    refused = _deploy(editor, dep["id"], bad, allow_import_errors="true")
    assert refused.status_code == 403, refused.text
    allowed = api.ok(_deploy(api, dep["id"], bad, allow_import_errors="true"), 201)

    assert allowed["status"] == "DEPLOYED"
    check = allowed["import_check"]
    assert check["status"] == "allowed"
    assert check["allow_import_errors"] is True
    assert check["new_errors"] == ["ml.py"]
    assert allowed["dag_ids"] == ["etl"]
    event = [e for e in _events(api) if e["tarmac"].get("deploy", {}).get("id") == allowed["id"]]
    assert event[0]["tarmac"]["import_check"]["allow_import_errors"] is True
    assert event[0]["tarmac"]["import_check"]["new_errors"] == ["ml.py"]


def test_warn_mode_makes_it_live_and_records_the_errors(api: Api) -> None:
    dep = _deployment(api, AIRFLOW_2)
    api.ok(api.patch(f"/api/v1/deployments/{dep['id']}", json={"dag_import_check": "warn"}))
    bad = make_bundle({"etl.py": dag_file("etl"), "ml.py": BROKEN["missing_module"][0]})

    deploy = api.ok(_deploy(api, dep["id"], bad), 201)

    assert deploy["status"] == "DEPLOYED"
    assert deploy["import_check"]["status"] == "warned"
    assert [e["file"] for e in deploy["import_check"]["errors"]] == ["ml.py"]
    assert "tarmac_no_such_module" in deploy["import_check"]["errors"][0]["error"]


def test_errors_the_live_deploy_already_has_do_not_block_the_next(api: Api) -> None:
    dep = _deployment(api, AIRFLOW_2)
    broken = BROKEN["missing_module"][0]
    first = make_bundle({"etl.py": dag_file("etl"), "ml.py": broken})
    api.ok(_deploy(api, dep["id"], first, allow_import_errors="true"), 201)
    second = make_bundle({"etl.py": dag_file("etl", marker="v2"), "ml.py": broken})

    deploy = api.ok(_deploy(api, dep["id"], second), 201)

    assert deploy["import_check"]["status"] == "passed"
    assert deploy["import_check"]["new_errors"] == []
    assert [e["file"] for e in deploy["import_check"]["errors"]] == ["ml.py"]


def test_the_cli_shows_each_error_and_an_admin_overrides_with_a_flag(tmp_path: Path) -> None:
    from tests.e2e.test_cli import as_json, run
    from tests.support.process import ServerProcess

    seeded_cache(tmp_path / "environments", "2.10.5")
    server = ServerProcess(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 't.db'}",
        env={
            "TARMAC_RUNTIME_ENV_DIR": str(tmp_path / "environments"),
            "TARMAC_RUNTIME_CATALOG_FILE": str(write_catalog(tmp_path / "runtimes.json")),
        },
    )
    server.start()
    try:
        as_json(
            run(
                server,
                "deployment",
                "create",
                "etl",
                "--runtime",
                AIRFLOW_2,
                "--dag-deploy-mode",
                "dag_deploy",
                "-o",
                "json",
            )
        )
        dags = tmp_path / "dags"
        dags.mkdir()
        (dags / "etl.py").write_text(dag_file("etl"))
        (dags / "ml.py").write_text(BROKEN["missing_module"][0])

        refused = run(server, "deploy", "etl", "--dags", str(dags))
        assert refused.exit_code == 1
        assert "dag_import_errors" in refused.output
        assert "ml.py" in refused.output and "tarmac_no_such_module" in refused.output

        allowed = as_json(
            run(server, "deploy", "etl", "--dags", str(dags), "--allow-import-errors", "-o", "json")
        )
        assert allowed["import_check"]["status"] == "allowed"
        assert allowed["seq"] == 1
    finally:
        server.stop()


READS_ENV_AT_IMPORT = (
    "import os\nfrom datetime import datetime\nfrom airflow import DAG\n"
    "from airflow.models import Variable\n"
    "REGION = os.environ['SALES_REGION']\n"
    "BUCKET = Variable.get('sales_bucket')\n"
    "with DAG(dag_id='regional', start_date=datetime(2024, 1, 1), schedule=None,\n"
    "         description=REGION + BUCKET):\n    pass\n"
)
"""A DAG that, like many, reads an env var and an ``AIRFLOW_VAR_*`` Variable at import."""


def test_the_probe_parses_with_the_deployments_environment_variables(api: Api) -> None:
    secret = "s3://sales-bucket-Zq8x"
    env_vars = [
        {"key": "SALES_REGION", "value": "eu-west-1"},
        {"key": "AIRFLOW_VAR_SALES_BUCKET", "value": secret, "is_secret": True},
    ]
    with_env = _deployment(api, AIRFLOW_2, env_vars=env_vars)
    without_env = _deployment(api, AIRFLOW_2, name="no-env")
    bundle = make_bundle({"regional.py": READS_ENV_AT_IMPORT})

    deploy = api.ok(_deploy(api, with_env["id"], bundle), 201)
    # The same bundle without the variables: the runtime would not import it either.
    refused = _deploy(api, without_env["id"], bundle)

    assert deploy["import_check"]["status"] == "passed"
    assert deploy["dag_ids"] == ["regional"]
    assert refused.status_code == 409, refused.text
    assert "SALES_REGION" in refused.json()["error"]["errors"][0]["error"]
    # The secret's value is given to the probe only: never recorded, logged or cached.
    data_dir = Path(api.client.app.state.installation.data_dir)  # type: ignore[attr-defined]
    assert secret not in json.dumps(deploy)
    for path in data_dir.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".log"):
            assert secret not in path.read_text(errors="replace"), path


def test_changing_an_environment_variable_is_checked_again_not_served_from_cache(
    api: Api,
) -> None:
    dep = _deployment(api, AIRFLOW_2, env_vars=[{"key": "SALES_REGION", "value": "eu"}])
    bundle = make_bundle({"regional.py": READS_ENV_AT_IMPORT})
    # Imports only once the Variable is there too.
    refused = _deploy(api, dep["id"], bundle)
    assert refused.status_code == 409, refused.text
    assert "sales_bucket" in refused.json()["error"]["errors"][0]["error"]
    env_vars = [
        {"key": "SALES_REGION", "value": "eu"},
        {"key": "AIRFLOW_VAR_SALES_BUCKET", "value": "b", "is_secret": True},
    ]
    api.ok(api.patch(f"/api/v1/deployments/{dep['id']}", json={"env_vars": env_vars}))

    deploy = api.ok(_deploy(api, dep["id"], bundle), 201)

    assert deploy["import_check"]["status"] == "passed"
    assert deploy["dag_ids"] == ["regional"]


def test_with_the_check_off_no_airflow_parses_the_live_bundle_either(api: Api) -> None:
    """Off means off: the live deploy's import errors (the gate's baseline) only matter
    when a check found errors, so nothing runs Airflow on a deploy with the check off."""
    dep = _deployment(api, AIRFLOW_2)
    api.ok(api.patch(f"/api/v1/deployments/{dep['id']}", json={"dag_import_check": "off"}))
    api.ok(_deploy(api, dep["id"], GOOD), 201)
    second = api.ok(_deploy(api, dep["id"], make_bundle({"ml.py": dag_file("ml")})), 201)
    assert second["import_check"]["status"] == "off"
    data_dir = Path(api.client.app.state.installation.data_dir)  # type: ignore[attr-defined]
    results = data_dir / "import-checks"
    assert not results.exists() or list(results.rglob("*.json")) == []
