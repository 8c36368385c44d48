"""Compare any two deploys: code state, DAG files, bounded diffs of changed text files."""

from __future__ import annotations

import random
from typing import Any

from tarmac.insight.file_diff import MAX_FILE_BYTES
from tests.support.bundles import dag_file, make_bundle
from tests.support.server import Api


def huge_text(seed: int) -> str:
    rng = random.Random(seed)
    lines = [f"{rng.getrandbits(64):016x}\n" for _ in range(MAX_FILE_BYTES // 17 + 100)]
    return "".join(lines)


OLD = {
    "etl.py": "import os\n\nSCHEDULE = '@daily'\nRETRIES = 1\n",
    "gone.py": dag_file("gone_dag"),
    "renamed.py": dag_file("old_name"),
    "logo.png": b"\x89PNG\r\n\x1a\n\x00\x00old",
    "big.sql": huge_text(1),
    "same.py": "# unchanged\n",
}
NEW = {
    "etl.py": "import os\n\nSCHEDULE = '@hourly'\nRETRIES = 1\n",
    "added.py": dag_file("fresh_dag"),
    "renamed.py": dag_file("new_name"),
    "logo.png": b"\x89PNG\r\n\x1a\n\x00\x00new",
    "big.sql": huge_text(2),
    "same.py": "# unchanged\n",
}


def two_deploys(api: Api) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    dep = api.new_deployment()
    a = api.ok(
        api.deploy(dep["id"], type="IMAGE_AND_DAG", image="repo/img:1", dags=make_bundle(OLD)),
        201,
    )
    b = api.ok(
        api.deploy(
            dep["id"],
            type="IMAGE_AND_DAG",
            image="repo/img:2",
            runtime_version="12.5.0",
            dags=make_bundle(NEW),
        ),
        201,
    )
    return dep, a, b


def test_diff_names_added_removed_changed_and_diffs_text(api: Api) -> None:
    dep, a, b = two_deploys(api)
    diff = api.ok(api.get(f"/api/v1/deployments/{dep['id']}/deploys/{a['id']}/diff/{b['id']}"))
    assert diff["image"] == {"from": "repo/img:1", "to": "repo/img:2", "changed": True}
    assert diff["runtime_version"]["from"] == "12.4.0"
    assert diff["runtime_version"]["to"] == "12.5.0"
    assert diff["dag_deploy_enabled"] == {"from": True, "to": True, "changed": False}
    assert diff["dag_files"] == {
        "added": ["added.py"],
        "removed": ["gone.py"],
        "changed": ["big.sql", "etl.py", "logo.png", "renamed.py"],
    }
    assert diff["dag_ids"] == {
        "appeared": ["fresh_dag", "new_name"],
        "disappeared": ["gone_dag", "old_name"],
    }
    by_path = {f["path"]: f for f in diff["file_diffs"]}
    etl = by_path["etl.py"]
    assert etl["binary"] is False and etl["truncated"] is False
    assert "-SCHEDULE = '@daily'\n+SCHEDULE = '@hourly'\n" in etl["diff"]
    assert etl["diff"].startswith("--- a/etl.py\n+++ b/etl.py\n")
    assert by_path["logo.png"] == {
        "path": "logo.png",
        "binary": True,
        "truncated": False,
        "diff": None,
    }
    assert by_path["big.sql"]["truncated"] is True
    assert by_path["big.sql"]["diff"] is None


def test_diff_by_sequence_number_and_in_reverse(api: Api) -> None:
    dep, a, b = two_deploys(api)
    diff = api.ok(api.get(f"/api/v1/deployments/{dep['id']}/deploys/2/diff/1"))
    assert diff["from"]["id"] == b["id"] and diff["to"]["id"] == a["id"]
    assert diff["dag_files"]["added"] == ["gone.py"]
    assert diff["dag_files"]["removed"] == ["added.py"]
    assert diff["dag_ids"]["appeared"] == ["gone_dag", "old_name"]


def test_diff_of_a_deploy_with_itself_is_empty(api: Api) -> None:
    dep, _, _ = two_deploys(api)
    diff = api.ok(api.get(f"/api/v1/deployments/{dep['id']}/deploys/1/diff/1"))
    assert diff["dag_files"] == {"added": [], "removed": [], "changed": []}
    assert diff["file_diffs"] == []
    assert diff["image"]["changed"] is False


def test_diff_of_an_unknown_deploy_or_another_deployments_is_404(api: Api) -> None:
    dep, a, _ = two_deploys(api)
    other = api.new_deployment("other")
    response = api.get(f"/api/v1/deployments/{other['id']}/deploys/{a['id']}/diff/1")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert api.get(f"/api/v1/deployments/{dep['id']}/deploys/1/diff/99").status_code == 404


def test_diff_needs_history_read_permission(api: Api) -> None:
    dep, _, _ = two_deploys(api)
    _, stranger = api.new_user("stranger")
    response = stranger.get(f"/api/v1/deployments/{dep['id']}/deploys/1/diff/2")
    assert response.status_code in (403, 404)
