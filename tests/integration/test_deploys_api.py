"""Deploys: each type, inheritance, each refusal, idempotency, history, live code on disk."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.bundles import dag_file, make_bundle
from tests.support.server import Api, running_tarmac

IMAGE = "quay.io/astronomer/astro-runtime:12.4.0"


def _data_dir(api: Api) -> Path:
    return Path(api.client.app.state.installation.data_dir)  # type: ignore[attr-defined]


def live_files(api: Api, release_name: str) -> dict[str, bytes]:
    """The files under the Deployment's live dags folder."""
    root = _data_dir(api) / "deployments" / release_name / "dags"
    found = {}
    for folder, _dirs, files in os.walk(root, followlinks=True):
        for name in files:
            path = Path(folder) / name
            found[str(path.relative_to(root))] = path.read_bytes()
    return found


def blob_count(api: Api) -> int:
    return sum(len(files) for _d, _s, files in os.walk(_data_dir(api) / "blobs"))


def test_image_and_dag_deploy_goes_live(api: Api) -> None:
    dep = api.new_deployment()
    bundle = make_bundle({"etl.py": dag_file("etl")})
    deploy = api.ok(
        api.deploy(dep["id"], type="IMAGE_AND_DAG", image=IMAGE, dags=bundle, description="first"),
        201,
    )
    assert deploy["seq"] == 1
    assert deploy["status"] == "DEPLOYED"
    assert deploy["type"] == "IMAGE_AND_DAG"
    assert deploy["image"] == IMAGE
    assert deploy["runtime_version"] == "12.4.0"
    assert deploy["airflow_version"].startswith("2.10")
    assert deploy["dag_deploy_enabled"] is True
    assert deploy["description"] == "first"
    assert deploy["created_by"] == "admin"
    assert deploy["rollback_from_id"] is None
    assert len(deploy["bundle_sha256"]) == 64
    assert live_files(api, dep["release_name"]) == {"etl.py": dag_file("etl").encode()}
    after = api.ok(api.get(f"/api/v1/deployments/{dep['id']}"))
    assert after["current_deploy_id"] == deploy["id"]
    current = api.ok(api.get(f"/api/v1/deployments/{dep['id']}/dags/current"))
    assert current == {
        "deploy_id": deploy["id"],
        "bundle_sha256": deploy["bundle_sha256"],
        "dag_deploy_enabled": True,
    }
    spec = json.loads(
        (_data_dir(api) / "deployments" / dep["release_name"] / "runtime.json").read_text()
    )
    assert spec["deploy_id"] == deploy["id"] and spec["image"] == IMAGE
    blob = api.get(f"/api/v1/blobs/{deploy['bundle_sha256']}")
    assert blob.status_code == 200 and blob.content == bundle
    assert "immutable" in blob.headers["cache-control"]


def test_dag_only_inherits_image_and_image_only_inherits_dags(api: Api) -> None:
    dep = api.new_deployment()
    first = api.ok(
        api.deploy(
            dep["id"], type="IMAGE_AND_DAG", image=IMAGE, dags=make_bundle({"a.py": dag_file("a")})
        ),
        201,
    )
    dags_only = api.ok(api.deploy(dep["id"], dags=make_bundle({"b.py": dag_file("b")})), 201)
    assert dags_only["image"] == IMAGE
    assert dags_only["runtime_version"] == first["runtime_version"]
    assert dags_only["bundle_sha256"] != first["bundle_sha256"]
    assert dags_only["description"] == "Deployed via <tarmac deploy --dags>"
    image_only = api.ok(api.deploy(dep["id"], type="IMAGE_ONLY", image="repo/img:2"), 201)
    assert image_only["bundle_sha256"] == dags_only["bundle_sha256"]
    assert image_only["image"] == "repo/img:2"
    assert image_only["description"] == "Deployed via <tarmac deploy>"
    assert live_files(api, dep["release_name"]) == {"b.py": dag_file("b").encode()}
    assert [d["seq"] for d in api.history(dep["id"])] == [3, 2, 1]


def test_runtime_upgrade_updates_the_deployment(api: Api) -> None:
    dep = api.new_deployment(runtime_version="11.3.0")
    api.ok(api.deploy(dep["id"], type="IMAGE_ONLY", image="img:1", runtime_version="12.1.0"), 201)
    after = api.ok(api.get(f"/api/v1/deployments/{dep['id']}"))
    assert after["runtime_version"] == "12.1.0"
    assert after["airflow_version"].startswith("2.10")


def test_runtime_downgrade_by_plain_deploy_is_refused(api: Api) -> None:
    dep = api.new_deployment(runtime_version="12.1.0")
    response = api.deploy(dep["id"], type="IMAGE_ONLY", image="img:1", runtime_version="11.3.0")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "runtime_downgrade"
    assert api.history(dep["id"]) == []
    assert api.ok(api.get(f"/api/v1/deployments/{dep['id']}"))["runtime_version"] == "12.1.0"


def test_dag_only_needs_dag_deploy_mode(api: Api) -> None:
    dep = api.new_deployment(dag_deploy_mode="image")
    response = api.deploy(dep["id"], dags=make_bundle({"a.py": "x"}))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "dag_deploy_disabled"
    assert api.history(dep["id"]) == []
    assert blob_count(api) == 0


def test_dag_only_needs_the_installation_flag(database_url: str, tmp_path: Path) -> None:
    values = "global:\n  dagOnlyDeployment:\n    enabled: false\n"
    with running_tarmac(data_dir=tmp_path / "d", database_url=database_url, values=values) as api:
        dep = api.new_deployment(dag_deploy_mode="image")
        response = api.deploy(dep["id"], dags=make_bundle({"a.py": "x"}))
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "dag_deploy_disabled"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"type": "FULL"}, "invalid_request"),
        ({"type": "IMAGE_ONLY"}, "invalid_request"),  # no image
        ({"type": "IMAGE_ONLY", "image": "UPPER/Case:tag"}, "invalid_request"),
        ({"type": "IMAGE_ONLY", "image": "repo:tag with space"}, "invalid_request"),
        ({"type": "IMAGE_ONLY", "image": "repo@sha256:short"}, "invalid_request"),
        (
            {"type": "IMAGE_ONLY", "image": "img:1", "runtime_version": "99.0.0"},
            "unknown_runtime_version",
        ),
        ({"type": "IMAGE_AND_DAG", "image": "img:1"}, "invalid_request"),  # no dags
        ({"type": "DAG_ONLY"}, "invalid_request"),  # no dags
    ],
)
def test_bad_deploy_requests(api: Api, fields: dict[str, Any], code: str) -> None:
    dep = api.new_deployment()
    response = api.deploy(dep["id"], **fields)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code
    assert api.history(dep["id"]) == []


def test_valid_image_references(api: Api) -> None:
    dep = api.new_deployment()
    digest = "sha256:" + "a" * 64
    for ref in (
        "img",
        "img:1.0",
        "registry.example.com:5000/team/img:v2",
        f"img@{digest}",
        f"quay.io/a/b:c@{digest}",
    ):
        api.ok(api.deploy(dep["id"], type="IMAGE_ONLY", image=ref), 201)


def test_permissions_for_deploy_types(api: Api) -> None:
    dep = api.new_deployment()
    viewer_id, viewer = api.new_user("viewer")
    editor_id, editor = api.new_user("editor")
    for user_id, role in ((viewer_id, "DEPLOYMENT_VIEWER"), (editor_id, "DEPLOYMENT_EDITOR")):
        api.ok(api.put(f"/api/v1/deployments/{dep['id']}/members/{user_id}", json={"role": role}))
    bundle = make_bundle({"a.py": "x"})
    for kind, extra in (("DAG_ONLY", {"dags": bundle}), ("IMAGE_ONLY", {"image": "img:1"})):
        refused = viewer.deploy(dep["id"], type=kind, **extra)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "permission_denied"
        assert editor.deploy(dep["id"], type=kind, **extra).status_code == 201
    assert viewer.ok(viewer.get(f"/api/v1/deployments/{dep['id']}/deploys"))["items"]
    assert api.as_token(None).deploy(dep["id"], type="IMAGE_ONLY", image="i").status_code == 401


def test_identical_bundles_are_stored_once(api: Api) -> None:
    dep = api.new_deployment()
    bundle = make_bundle({"a.py": dag_file("a")})
    first = api.ok(api.deploy(dep["id"], dags=bundle), 201)
    before = blob_count(api)
    second = api.ok(api.deploy(dep["id"], dags=bundle), 201)
    assert second["bundle_sha256"] == first["bundle_sha256"]
    assert blob_count(api) == before == 1


def test_idempotency_key_returns_the_original(api: Api) -> None:
    dep = api.new_deployment()
    bundle = make_bundle({"a.py": dag_file("a")})
    first = api.deploy(dep["id"], dags=bundle, idempotency_key="ci-run-42")
    assert first.status_code == 201
    again = api.deploy(dep["id"], dags=bundle, idempotency_key="ci-run-42")
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert len(api.history(dep["id"])) == 1


def test_history_pagination_is_keyset_and_complete(api: Api) -> None:
    dep = api.new_deployment()
    for i in range(25):
        api.ok(api.deploy(dep["id"], type="IMAGE_ONLY", image=f"img:{i}"), 201)
    page = api.ok(api.get(f"/api/v1/deployments/{dep['id']}/deploys"))
    assert [d["seq"] for d in page["items"]] == list(range(25, 5, -1))
    rest = api.ok(
        api.get(f"/api/v1/deployments/{dep['id']}/deploys", params={"cursor": page["next_cursor"]})
    )
    assert [d["seq"] for d in rest["items"]] == list(range(5, 0, -1))
    assert rest["next_cursor"] is None
    assert [d["seq"] for d in api.history(dep["id"])] == list(range(25, 0, -1))
    assert page["items"][0]["is_current"] is True
    for bad in ({"limit": 0}, {"limit": 101}, {"cursor": "garbage!"}, {"limit": "ten"}):
        response = api.get(f"/api/v1/deployments/{dep['id']}/deploys", params=bad)
        assert response.status_code == 400, bad
        assert response.json()["error"]["code"] == "invalid_request"


def test_get_deploy_of_another_deployment_is_404(api: Api) -> None:
    one = api.new_deployment("one")
    two = api.new_deployment("two")
    deploy = api.ok(api.deploy(one["id"], type="IMAGE_ONLY", image="img:1"), 201)
    assert (
        api.ok(api.get(f"/api/v1/deployments/{one['id']}/deploys/{deploy['id']}"))["id"]
        == deploy["id"]
    )
    response = api.get(f"/api/v1/deployments/{two['id']}/deploys/{deploy['id']}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_every_deploy_writes_an_ecs_event(api: Api) -> None:
    dep = api.new_deployment()
    deploy = api.ok(api.deploy(dep["id"], type="IMAGE_ONLY", image="img:1"), 201)
    events = api.client.app.state.installation.event_log.read()  # type: ignore[attr-defined]
    last = events[-1]
    assert last["event"]["action"] == "deploy.create"
    assert last["event"]["outcome"] == "success"
    assert last["user"]["name"] == "admin"
    assert last["tarmac"]["deployment"]["id"] == dep["id"]
    assert last["tarmac"]["deploy"]["id"] == deploy["id"]
    assert "@timestamp" in last


def test_blob_access_needs_a_deployment_that_used_it(api: Api) -> None:
    dep = api.new_deployment()
    deploy = api.ok(api.deploy(dep["id"], dags=make_bundle({"a.py": "x"})), 201)
    _, stranger = api.new_user("stranger")
    assert stranger.get(f"/api/v1/blobs/{deploy['bundle_sha256']}").status_code == 404
    assert api.get("/api/v1/blobs/" + "0" * 64).status_code == 404
    assert api.get("/api/v1/blobs/not-a-sha").status_code == 400


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("application/json", b'{"type": "IMAGE_ONLY"}', "multipart/form-data"),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="colour"\r\n\r\nred\r\n--b--\r\n',
            "unknown form field",
        ),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="type"\r\n\r\nIMAGE_ONLY\r\n'
            b'--b\r\nContent-Disposition: form-data; name="type"\r\n\r\nDAG_ONLY\r\n--b--\r\n',
            "given twice",
        ),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="description"\r\n\r\n'
            + b"x" * 20_000
            + b"\r\n--b--\r\n",
            "too long",
        ),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="dags"; filename="a.tgz"\r\n\r\nA\r\n'
            b'--b\r\nContent-Disposition: form-data; name="dags"; filename="b.tgz"\r\n\r\nB\r\n'
            b"--b--\r\n",
            "one dags bundle",
        ),
        ("application/x-www-form-urlencoded", b"type=IMAGE_ONLY&dags=x", "as a file"),
    ],
)
def test_malformed_deploy_forms_are_refused(
    api: Api, content_type: str, body: bytes, message: str
) -> None:
    dep = api.new_deployment()
    response = api.post(
        f"/api/v1/deployments/{dep['id']}/deploys",
        content=body,
        headers={"content-type": content_type},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    assert message in response.json()["error"]["message"]
    assert api.history(dep["id"]) == []
    assert blob_count(api) == 0
    staging = _data_dir(api) / "blobs"
    assert not list(staging.glob(".stage-*")) if staging.exists() else True


def test_bundle_is_staged_in_the_blob_store_not_in_a_temp_dir(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upload streams into the store: a form parser's spool file is never made."""
    import tempfile

    import starlette.formparsers

    spools: list[str] = []
    real = tempfile.SpooledTemporaryFile

    def spy(*args: Any, **kwargs: Any) -> Any:
        spools.append("spooled")
        return real(*args, **kwargs)

    # Where a framework's multipart parser would make its spool file.
    monkeypatch.setattr(starlette.formparsers, "SpooledTemporaryFile", spy)
    monkeypatch.setattr(tempfile, "SpooledTemporaryFile", spy)
    dep = api.new_deployment()
    api.ok(api.deploy(dep["id"], dags=make_bundle({"a.py": dag_file("a")})), 201)
    assert spools == []
