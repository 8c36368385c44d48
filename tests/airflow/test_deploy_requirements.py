"""A deploy's requirements.txt, really installed from PyPI and really run by Airflow.

An image deploy whose bundle carries ``requirements.txt`` at its root runs on Airflow
plus those packages: the environment is built on top of the machine's prepared Airflow
2.10.5 (a hard-linked copy, then ``pip install`` from PyPI), its DAG imports the package
and its task runs in that environment. A DAG-only deploy keeps the environment that runs;
a rollback to the first image finds its environment as it was. A requirement that cannot
install fails the rollout before anything stops: the previous deploy stays live and its
scheduler is the very process that ran before.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.airflow.runtime_process import RuntimeProcess, pid_alive, wait_for
from tests.support.airflow_envs import WARM_VENVS, seeded_cache
from tests.support.bundles import make_bundle
from tests.support.process import ServerProcess

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

RUNTIME = "12.11.0"  # Airflow 2.10.5
AIRFLOW = "2.10.5"
REQUIREMENT = "cowsay==6.1"  # small, pure Python, not among Airflow's own packages
MISSING = "tarmac-no-such-package-i10==1.0"

DAG = """
import os
import sys
from datetime import datetime

import cowsay  # installed by the deploy's requirements.txt, not by Airflow

from airflow import DAG
from airflow.operators.python import PythonOperator


def speak():
    with open(os.path.join(os.environ["TARMAC_TEST_OUT"], "cowsay.json"), "w") as out:
        out.write(__import__("json").dumps(
            {"said": cowsay.get_output_string("cow", "moo"), "prefix": sys.prefix}
        ))


with DAG("uses_cowsay", start_date=datetime(2024, 1, 1), schedule="@once", catchup=False,
         tags=[TAG]):
    PythonOperator(task_id="speak", python_callable=speak)
"""

PLAIN_DAG = """
from datetime import datetime
from airflow import DAG

with DAG("plain", start_date=datetime(2024, 1, 1), schedule=None):
    pass
"""


def bundle(tag: str, requirements: str | None) -> bytes:
    files = {"uses_cowsay.py": DAG.replace("[TAG]", f"[{tag!r}]")}
    if requirements is not None:
        files["requirements.txt"] = requirements
    return make_bundle(files)


def deploy(
    client: httpx.Client, deployment_id: str, *, kind: str, image: str | None, dags: bytes
) -> dict[str, Any]:
    data = {"type": kind, "description": f"{kind} {image}"}
    if image is not None:
        data |= {"image": image, "runtime_version": RUNTIME}
    response = client.post(
        f"/api/v1/deployments/{deployment_id}/deploys",
        data=data,
        files={"dags": ("dags.tar.gz", dags, "application/gzip")},
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def journal(runtime: RuntimeProcess) -> dict[str, Any]:
    return json.loads((runtime.home / "rollout.json").read_text())["reached"]  # type: ignore[no-any-return]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[ServerProcess, str, RuntimeProcess, Path]]:
    """A server and a runtime side, each with its own cache seeded with prepared Airflow."""
    runtime_cache = tmp_path / "runtime-envs"
    seeded_cache(runtime_cache, AIRFLOW)
    server_cache = tmp_path / "server-envs"
    seeded_cache(server_cache, AIRFLOW)
    server = ServerProcess(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'tarmac.db'}",
        # The import gate builds the deploy's environment as it would in production.
        env={
            "TARMAC_RUNTIME_ENV_DIR": str(server_cache),
            "TARMAC_IMPORT_CHECK_BUILD_ENVIRONMENTS": "true",
        },
    )
    server.start()
    out = tmp_path / "task-out"
    out.mkdir()
    runtime = None
    try:
        with server.client() as client:
            created = client.post(
                "/api/v1/deployments",
                json={
                    "name": "reqs",
                    "runtime_version": RUNTIME,
                    "dag_deploy_mode": "dag_deploy",
                    "env_vars": [{"key": "TARMAC_TEST_OUT", "value": str(out)}],
                },
            )
            assert created.status_code == 201, created.text
            deployment_id = str(created.json()["id"])
            patched = client.patch(
                f"/api/v1/deployments/{deployment_id}", json={"rollback_enabled": True}
            )
            assert patched.status_code == 200, patched.text
        runtime = RuntimeProcess(
            server,
            deployment_id=deployment_id,
            home=tmp_path / "home",
            components="scheduler",  # Airflow 2 on SQLite: the scheduler parses and runs
            env_cache=runtime_cache,
        )
        yield server, deployment_id, runtime, out
    finally:
        if runtime is not None and runtime.process is not None:
            runtime.stop()
        server.stop()


def test_the_bundles_requirements_are_installed_and_its_dag_runs_with_them(
    setup: tuple[ServerProcess, str, RuntimeProcess, Path],
) -> None:
    server, deployment_id, runtime, out = setup
    client = server.client()
    d1 = deploy(
        client,
        deployment_id,
        kind="IMAGE_AND_DAG",
        image="local/reqs:1",
        dags=bundle("v1", f"# what our DAGs import\n{REQUIREMENT}\n"),
    )
    # The import gate parsed the DAG with the same packages (it imports cowsay).
    assert d1["import_check"]["status"] == "passed", d1["import_check"]
    assert "uses_cowsay" in (d1["dag_ids"] or [])
    runtime.start()
    runtime.wait_running(d1["id"], airflow=AIRFLOW)

    reached = journal(runtime)
    assert reached["requirements"] == [REQUIREMENT]
    env_path = runtime.env_cache / "envs" / reached["env_digest"]
    base_path = WARM_VENVS[AIRFLOW].resolve()
    assert env_path.resolve() != base_path
    record = json.loads((env_path / "tarmac-environment.json").read_text())
    assert REQUIREMENT in record["freeze"]
    assert list(base_path.glob("lib/python3*/site-packages/cowsay")) == []  # base untouched
    assert head_of(env_path / "bin" / "airflow") == f"#!{env_path}/bin/python"
    assert head_of(base_path / "bin" / "airflow") == f"#!{base_path}/bin/python"

    # The DAG is parsed without import errors, and its task really ran with cowsay.
    assert wait_for(lambda: (out / "cowsay.json").exists(), timeout=300), runtime.log()
    ran = json.loads((out / "cowsay.json").read_text())
    assert "moo" in ran["said"]
    assert Path(ran["prefix"]).resolve() == env_path.resolve()
    assert runtime.query("SELECT COUNT(*) FROM import_error") == [(0,)]
    scheduler_pid = runtime.component_info("scheduler")["pid"]

    # A DAG-only deploy keeps the environment that runs, whatever its requirements.txt says.
    d2 = deploy(
        client,
        deployment_id,
        kind="DAG_ONLY",
        image=None,
        dags=bundle("v2", "cowsay==6.0\n"),
    )
    assert wait_for(lambda: journal(runtime)["deploy_id"] == d2["id"], timeout=120)
    assert journal(runtime)["env_digest"] == reached["env_digest"]
    assert journal(runtime)["requirements"] == [REQUIREMENT]
    assert runtime.component_info("scheduler")["pid"] == scheduler_pid  # nothing restarted

    # An image deploy without requirements runs on plain Airflow ...
    d3 = deploy(
        client,
        deployment_id,
        kind="IMAGE_AND_DAG",
        image="local/reqs:2",
        dags=make_bundle({"plain.py": PLAIN_DAG}),
    )
    runtime.wait_running(d3["id"], airflow=AIRFLOW)
    assert journal(runtime)["requirements"] == []
    assert (runtime.env_cache / "envs" / journal(runtime)["env_digest"]).resolve() == base_path

    # ... and a rollback to the first image finds its environment as it was, not rebuilt.
    built = os.stat(env_path / "tarmac-environment.json")
    response = client.post(
        f"/api/v1/deployments/{deployment_id}/deploys/{d1['id']}/rollback",
        json={"description": "back to the image with cowsay"},
    )
    assert response.status_code == 201, response.text
    runtime.wait_running(str(response.json()["id"]), airflow=AIRFLOW)
    assert journal(runtime)["env_digest"] == reached["env_digest"]
    again = os.stat(env_path / "tarmac-environment.json")
    assert (again.st_ino, again.st_mtime_ns) == (built.st_ino, built.st_mtime_ns)
    client.close()


def test_a_requirement_that_cannot_install_fails_the_rollout_before_anything_stops(
    setup: tuple[ServerProcess, str, RuntimeProcess, Path],
) -> None:
    server, deployment_id, runtime, _out = setup
    client = server.client()
    d1 = deploy(
        client,
        deployment_id,
        kind="IMAGE_AND_DAG",
        image="local/reqs:1",
        dags=make_bundle({"plain.py": PLAIN_DAG}),
    )
    runtime.start()
    runtime.wait_running(d1["id"], airflow=AIRFLOW)
    scheduler_pid = runtime.component_info("scheduler")["pid"]

    d2 = deploy(
        client,
        deployment_id,
        kind="IMAGE_AND_DAG",
        image="local/reqs:2",
        dags=make_bundle({"plain.py": PLAIN_DAG, "requirements.txt": f"{MISSING}\n"}),
    )

    seen: list[dict[str, Any]] = []
    record_path = f"/api/v1/deployments/{deployment_id}/deploys/{d2['id']}"

    def failed() -> bool:
        # The deploy's record keeps the failure; the runtime status says "failed" only
        # until the next report (the previous deploy running again), so it is sampled
        # on the way to see which states the rollout went through.
        seen.append(runtime.status())
        return client.get(record_path).json()["status"] == "FAILED"

    assert wait_for(failed, timeout=1200, interval=0.2), (runtime.status(), runtime.log())
    record = client.get(record_path).json()
    error = record["failure_reason"]
    assert "requirements.txt" in error and MISSING.split("==")[0] in error
    assert runtime.status()["reached_deploy_id"] == d1["id"]
    # Reported: preparing, then failed; never stopping (nothing was stopped).
    states = [s["state"] for s in seen if s.get("rollout_deploy_id") == d2["id"]]
    assert "stopping" not in states, states
    # Nothing stopped: the scheduler that ran before is the one that runs now.
    assert pid_alive(scheduler_pid)
    assert runtime.component_info("scheduler")["pid"] == scheduler_pid
    assert record["status"] == "FAILED"  # the failure stays on the record
    assert MISSING.split("==")[0] in record["failure_reason"]
    assert f"restored deploy #{d1['seq']}" in record["failure_reason"]
    deployment = client.get(f"/api/v1/deployments/{deployment_id}").json()
    assert deployment["current_deploy_id"] == d1["id"]
    runtime.wait_running(d1["id"], airflow=AIRFLOW)
    assert not list((runtime.env_cache / "building").glob("*"))  # nothing half-built kept
    client.close()


def head_of(script: Path) -> str:
    return script.read_text().splitlines()[0]
