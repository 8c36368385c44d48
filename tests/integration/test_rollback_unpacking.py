"""A rollback to a bundle that is no longer unpacked unpacks it before the lock, and only
for a caller the policy allows; one to an unpacked bundle is decided once, under the lock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tarmac.bundles.durable import remove_tree
from tests.e2e.live_state import bundle_files
from tests.integration.rollback_setup import BUNDLE_V1, History, error_code, make_history, rollback
from tests.integration.test_deploys_api import live_files
from tests.support.server import Api


def _unpacked_dir(api: Api, deploy: dict[str, Any]) -> Path:
    installation = api.client.app.state.installation  # type: ignore[attr-defined]
    path: Path = installation.runtime_backend.materialiser.path_for(deploy["bundle_sha256"])
    return path


def _forget_unpacked(api: Api, deploy: dict[str, Any]) -> Path:
    """Remove the target's unpacked copy, as a restart on a new disk would (the blob stays)."""
    path = _unpacked_dir(api, deploy)
    assert path.is_dir()
    remove_tree(path)
    return path


def _new_caller(api: Api, history: History, role: str) -> Api:
    user_id, caller = api.new_user(role.lower(), None)
    api.ok(api.put(f"/api/v1/deployments/{history.id}/members/{user_id}", json={"role": role}))
    return caller


def test_a_rollback_to_a_bundle_no_longer_unpacked_unpacks_it_and_goes_live(api: Api) -> None:
    history = make_history(api)
    path = _forget_unpacked(api, history.v1)
    response = rollback(api, history, history.v1)
    assert response.status_code == 201, response.text
    assert path.is_dir()
    release = history.deployment["release_name"]
    assert live_files(api, release) == bundle_files(BUNDLE_V1)


def test_a_caller_without_permission_never_makes_the_server_unpack(api: Api) -> None:
    history = make_history(api)
    path = _forget_unpacked(api, history.v1)
    viewer = _new_caller(api, history, "DEPLOYMENT_VIEWER")
    response = rollback(viewer, history, history.v1)
    assert response.status_code == 403 and error_code(response) == "permission_denied"
    assert not path.exists()
    assert len(api.history(history.id)) == 2


def test_a_caller_without_permission_is_refused_and_logged_when_the_target_is_unpacked(
    api: Api,
) -> None:
    history = make_history(api)
    assert _unpacked_dir(api, history.v1).is_dir()  # decided once, under the lock
    viewer = _new_caller(api, history, "DEPLOYMENT_VIEWER")
    response = rollback(viewer, history, history.v1)
    assert response.status_code == 403 and error_code(response) == "permission_denied"
    assert len(api.history(history.id)) == 2
    events = api.client.app.state.installation.event_log.read()  # type: ignore[attr-defined]
    [refused] = [e for e in events if e["event"]["action"] == "deploy.rollback"]
    assert refused["event"]["outcome"] == "failure"
    assert refused["tarmac"]["error"]["code"] == "permission_denied"
