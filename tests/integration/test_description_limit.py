"""One description limit for deploys and rollbacks, counted after trimming."""

from __future__ import annotations

from tarmac.deploys.descriptions import MAX_DESCRIPTION_LENGTH
from tests.integration.rollback_setup import error_code, make_history, rollback
from tests.integration.test_ui_support import dialog_path, new_login, signed_in
from tests.support.server import Api

AT_LIMIT = "x" * MAX_DESCRIPTION_LENGTH
OVER = "x" * (MAX_DESCRIPTION_LENGTH + 1)


def test_the_limit_is_500() -> None:
    assert MAX_DESCRIPTION_LENGTH == 500


def test_deploy_description_limit(api: Api) -> None:
    history = make_history(api)
    over = api.deploy(history.id, type="IMAGE_ONLY", image="repo/img:3", description=OVER)
    assert over.status_code == 400 and error_code(over) == "invalid_request"
    assert over.json()["error"]["field"] == "description"
    assert len(api.history(history.id)) == 2
    done = api.ok(
        api.deploy(history.id, type="IMAGE_ONLY", image="repo/img:3", description=f"  {AT_LIMIT} "),
        201,
    )
    assert done["description"] == AT_LIMIT


def test_rollback_description_limit_in_the_api_and_the_ui(api: Api) -> None:
    history = make_history(api)
    over = rollback(api, history, history.v1, description=OVER)
    assert over.status_code == 400 and error_code(over) == "invalid_request"
    new_login(api, "eddie", deployment_id=history.id, deployment_role="DEPLOYMENT_EDITOR")
    browser = signed_in(api, "eddie")
    by_ui = browser.submit(dialog_path(history.id, history.v1["id"]), {"description": OVER})
    assert by_ui.status_code == 400
    assert f"longer than {MAX_DESCRIPTION_LENGTH} characters" in by_ui.text
    assert len(api.history(history.id)) == 2
    done = api.ok(rollback(api, history, history.v1, description=f" {AT_LIMIT}  "), 201)
    assert done["description"] == AT_LIMIT
