"""deploy/: the Kubernetes manifests render, validate against the API schemas, and say
what the README promises; the Airflow chart values run the agent beside each component.

No cluster runs here: ``kubectl kustomize`` renders offline, ``kubernetes-validate``
checks the result against Kubernetes' published OpenAPI schemas, ``yamllint`` the files.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tarmac.installation.values import load_values_file

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
BIN = Path(sys.executable).parent
KUBERNETES_VERSIONS = ["1.29.0", "1.37.0"]


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is not installed (pip install -e '.[dev]')"
    return found


def run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("k8s") / "tarmac.yaml"
    out.write_text(run(tool("kubectl"), "kustomize", str(DEPLOY / "kubernetes")))
    return out


def resources(path: Path) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in yaml.safe_load_all(path.read_text()) if d}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_rendered_manifests_validate_strictly(rendered: Path, version: str) -> None:
    run(tool("kubernetes-validate"), "--strict", "--quiet", "-k", version, str(rendered))


def test_a_mistake_would_be_caught(rendered: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(rendered.read_text().replace("minAvailable:", "minAvailabel:"))
    done = subprocess.run(
        [tool("kubernetes-validate"), "--strict", "--quiet", str(bad)], capture_output=True
    )
    assert done.returncode != 0


def test_server_replicas_probes_secrets_and_budget(rendered: Path) -> None:
    found = resources(rendered)
    deployment, budget = found["Deployment"], found["PodDisruptionBudget"]
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]
    [server] = pod["spec"]["containers"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert server[probe]["httpGet"]["path"] == "/healthz"
    secrets = {
        e["name"]: e["valueFrom"]["secretKeyRef"]["name"]
        for e in server["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert secrets["TARMAC_DATABASE_URL"] == "tarmac-database"
    assert secrets["TARMAC_SECRET_KEY"] == "tarmac-secret-key"
    assert any(s.get("secretRef", {}).get("name") == "tarmac-s3" for s in server["envFrom"])
    # The budget and the Service pick exactly the server's pods.
    labels = pod["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"] == labels
    assert found["Service"]["spec"]["selector"] == labels
    assert budget["spec"]["minAvailable"] == 1
    # No volume outlives a pod: a replica's disk is a cache.
    assert all("emptyDir" in v or "configMap" in v for v in pod["spec"]["volumes"])


def test_server_config_points_blobs_at_s3(rendered: Path) -> None:
    configs = [d for d in yaml.safe_load_all(rendered.read_text()) if d["kind"] == "ConfigMap"]
    settings = next(c["data"] for c in configs if "TARMAC_BLOB_STORE_URL" in c["data"])
    assert settings["TARMAC_BLOB_STORE_URL"].startswith("s3://")


def test_shipped_values_file_is_one_tarmac_accepts() -> None:
    flags = load_values_file(DEPLOY / "kubernetes" / "values.yaml")
    assert flags.rollbacks_allowed


def test_yaml_is_lint_clean() -> None:
    run(tool("yamllint"), "--strict", "-c", str(DEPLOY / ".yamllint"), str(DEPLOY))


AIRFLOW_COMPONENTS = ["scheduler", "dagProcessor", "triggerer", "workers"]


def test_airflow_values_run_the_agent_beside_every_component(tmp_path: Path) -> None:
    values = yaml.safe_load((DEPLOY / "airflow" / "values-tarmac-agent.yaml").read_text())
    assert values["dags"]["gitSync"]["enabled"] is False
    folder = values["config"]["core"]["dags_folder"]
    [mount] = values["volumeMounts"]
    assert folder.startswith(mount["mountPath"] + "/") and mount["readOnly"] is True
    for component in AIRFLOW_COMPONENTS:
        [init] = values[component]["extraInitContainers"]
        [agent] = values[component]["extraContainers"]
        assert "--once" in init["args"] and "--once" not in agent["args"]
        # The sidecar asks Airflow to parse changed files next: the chart's metadata Secret.
        assert {
            "name": "TARMAC_AIRFLOW_DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": "airflow-metadata", "key": "connection"}},
        } in agent["env"]
        for container in (init, agent):
            assert container["args"][0] == "agent"
            assert f"--dags-folder={folder}" in container["args"]
            assert container["envFrom"] == [{"secretRef": {"name": "tarmac-agent"}}]
            assert container["volumeMounts"][0]["name"] == mount["name"]
        # The pod the chart would make, as far as these values go: valid Kubernetes.
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"airflow-{component.lower()}"},
            "spec": {
                "volumes": values["volumes"],
                "initContainers": [init],
                "containers": [
                    {
                        "name": "airflow",
                        "image": "apache/airflow:3.1.8",
                        "env": [{"name": "AIRFLOW__CORE__DAGS_FOLDER", "value": folder}],
                        "volumeMounts": values["volumeMounts"],
                    },
                    agent,
                ],
            },
        }
        path = tmp_path / f"{component}.yaml"
        path.write_text(yaml.safe_dump(pod))
        run(tool("kubernetes-validate"), "--strict", "--quiet", str(path))
