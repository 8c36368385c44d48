"""Git metadata on deploys: validated, stored, kept by rollbacks, in history and events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.bundles import dag_file, make_bundle
from tests.support.server import Api

BUNDLE = make_bundle({"etl.py": dag_file("etl")})
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def git_form(**fields: str) -> dict[str, str]:
    return {
        "git_commit": COMMIT,
        "git_branch": "main",
        "git_remote_url": "git@github.com:acme/pipelines.git",
        "git_author": "Ada <ada@example.com>",
        "git_message": "Fix the nightly load\n\nLonger body.",
        "git_committed_at": "2026-11-01T10:00:00+00:00",
        **fields,
    }


def deploy_with(api: Api, deployment_id: str, form: dict[str, str], bundle: bytes = BUNDLE) -> Any:
    return api.post(
        f"/api/v1/deployments/{deployment_id}/deploys",
        data={"type": "DAG_ONLY", **form},
        files={"dags": ("dags.tar.gz", bundle, "application/gzip")},
    )


def test_deploy_carries_git_metadata_in_json_history_and_events(api: Api, tmp_path: Path) -> None:
    dep = api.new_deployment()
    made = api.ok(deploy_with(api, dep["id"], git_form()), 201)
    assert made["git"] == {
        "commit": COMMIT,
        "branch": "main",
        "remote_url": "git@github.com:acme/pipelines.git",
        "author": "Ada <ada@example.com>",
        "message": "Fix the nightly load\n\nLonger body.",
        "committed_at": "2026-11-01T10:00:00Z",
        "commit_url": f"https://github.com/acme/pipelines/commit/{COMMIT}",
    }
    assert api.history(dep["id"])[0]["git"] == made["git"]
    assert (
        api.ok(api.get(f"/api/v1/deployments/{dep['id']}/deploys/{made['id']}"))["git"]
        == made["git"]
    )
    events = [
        json.loads(line)
        for line in (tmp_path / "data" / "events" / "events.jsonl").read_text().splitlines()
    ]
    created = [e for e in events if e["event"]["action"] == "deploy.create"]
    assert created[-1]["tarmac"]["git"]["commit"] == COMMIT


def test_a_deploy_without_git_fields_has_git_null(api: Api) -> None:
    dep = api.new_deployment()
    made = api.ok(deploy_with(api, dep["id"], {}), 201)
    assert made["git"] is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"git_commit": "xyz1234"}, "git_commit"),
        ({"git_commit": "abc12"}, "git_commit"),
        ({"git_commit": "a" * 41}, "git_commit"),
        ({"git_branch": "b" * 256}, "git_branch"),
        ({"git_remote_url": "file:///etc/passwd"}, "git_remote_url"),
        ({"git_remote_url": "https://user:pw@github.com/a/b.git"}, "git_remote_url"),
        ({"git_committed_at": "yesterday"}, "git_committed_at"),
        ({"git_commit": "", "git_branch": "main"}, "git_commit"),
    ],
)
def test_bad_git_fields_are_refused_and_change_nothing(
    api: Api, fields: dict[str, str], field: str
) -> None:
    dep = api.new_deployment()
    response = deploy_with(api, dep["id"], git_form(**fields))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.json()["error"]["field"] == field
    assert api.history(dep["id"]) == []


def test_a_rollback_shows_the_commit_it_brings_back(api: Api) -> None:
    dep = api.new_deployment()
    api.ok(api.patch(f"/api/v1/deployments/{dep['id']}", json={"rollback_enabled": True}))
    old = api.ok(deploy_with(api, dep["id"], git_form(git_commit="aaaaaaa")), 201)
    api.ok(
        deploy_with(
            api, dep["id"], git_form(git_commit="bbbbbbb"), make_bundle({"etl.py": "# v2\n"})
        ),
        201,
    )
    rollback = api.ok(
        api.post(
            f"/api/v1/deployments/{dep['id']}/deploys/{old['id']}/rollback",
            json={"description": "v2 broke the load"},
        ),
        201,
    )
    assert rollback["git"]["commit"] == "aaaaaaa"
    assert rollback["rollback_from_id"] == old["id"]
