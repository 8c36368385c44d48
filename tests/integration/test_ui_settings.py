"""The Settings page: the Rollback Deploy toggle, name, description, variables, resources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tarmac.deployments.models import Deployment
from tests.integration.rollback_setup import make_history
from tests.integration.test_ui_support import Browser, new_login, settings_path, signed_in
from tests.support.server import ALL_FLAGS_ON, Api, running_tarmac


def form(**fields: Any) -> dict[str, Any]:
    """The settings form as the page fills it for make_history's Deployment."""
    base = {
        "name": "sales",
        "description": "the sales pipelines",
        "resources": json.dumps({"scheduler": {"replicas": 2, "cpu": "1"}}),
        "env-count": "4",
        "env-0-key": "REGION",
        "env-0-value": "eu",
        "env-1-key": "PW",
        "env-1-value": "",
        "env-1-secret": "on",
    }
    return {k: v for k, v in {**base, **fields}.items() if v is not None}


def editor(api: Api, deployment_id: str) -> Browser:
    new_login(api, "eddie", deployment_id=deployment_id, deployment_role="DEPLOYMENT_EDITOR")
    return signed_in(api, "eddie")


def deployment(api: Api, deployment_id: str) -> dict[str, Any]:
    return api.ok(api.get(f"/api/v1/deployments/{deployment_id}"))  # type: ignore[no-any-return]


def test_switching_rollback_deploy_on_and_off(api: Api) -> None:
    history = make_history(api, rollback_enabled=False)
    browser = editor(api, history.id)
    path = settings_path(history.id)
    page = browser.get(path).text
    assert 'id="rollback_enabled" name="rollback_enabled" value="on"' in page
    response = browser.submit(path, form(rollback_enabled="on"))
    assert response.status_code == 303
    assert response.headers["location"] == path + "?saved=1"
    assert "Settings saved." in browser.get(response.headers["location"]).text
    assert deployment(api, history.id)["rollback_enabled"] is True
    browser.submit(path, form())
    assert deployment(api, history.id)["rollback_enabled"] is False


def test_toggle_is_disabled_with_the_reason_when_the_installation_forbids(
    tmp_path: Path, database_url: str
) -> None:
    values = ALL_FLAGS_ON.replace("deployRollbackEnabled: true", "deployRollbackEnabled: false")
    with running_tarmac(data_dir=tmp_path / "d", database_url=database_url, values=values) as api:
        history = make_history(api, rollback_enabled=False)
        browser = editor(api, history.id)
        page = browser.get(settings_path(history.id)).text
        assert 'disabled aria-describedby="rollback-locked"' in page
        assert "<code>global.deployRollbackEnabled</code>" in page
        forced = browser.submit(settings_path(history.id), form(rollback_enabled="on"))
        assert forced.status_code == 409
        assert "not enabled for this installation" in forced.text
        assert deployment(api, history.id)["rollback_enabled"] is False


def test_secrets_are_masked_and_an_empty_value_keeps_them(api: Api) -> None:
    history = make_history(api)
    browser = editor(api, history.id)
    path = settings_path(history.id)
    page = browser.get(path).text
    assert 'name="env-1-value" type="password" value=""' in page
    browser.submit(path, form(**{"env-0-value": "us", "env-2-key": "NEW", "env-2-value": "1"}))
    env = deployment(api, history.id)["env_vars"]
    assert env == [
        {"key": "REGION", "value": "us", "is_secret": False},
        {"key": "PW", "value": None, "is_secret": True},
        {"key": "NEW", "value": "1", "is_secret": False},
    ]
    installation = api.client.app.state.installation
    with installation.database.session() as db:
        stored = db.get(Deployment, history.id)
        assert stored is not None
        secret = next(v for v in stored.env_vars if v.key == "PW")
        assert installation.secrets.decrypt(secret.value) == "s"  # the stored secret is kept


def test_a_new_secret_value_replaces_the_old_and_is_never_shown(api: Api) -> None:
    history = make_history(api)
    browser = editor(api, history.id)
    path = settings_path(history.id)
    browser.submit(path, form(**{"env-1-value": "hunter2-new"}))
    assert "hunter2-new" not in browser.get(path).text


def test_removing_a_variable(api: Api) -> None:
    history = make_history(api)
    browser = editor(api, history.id)
    browser.submit(settings_path(history.id), form(**{"env-0-remove": "on"}))
    assert [v["key"] for v in deployment(api, history.id)["env_vars"]] == ["PW"]


def test_bad_resources_json_is_refused_and_the_form_kept(api: Api) -> None:
    history = make_history(api)
    browser = editor(api, history.id)
    response = browser.submit(settings_path(history.id), form(name="renamed", resources='{"cpu": '))
    assert response.status_code == 400
    assert "resources: not valid JSON" in response.text
    assert 'value="renamed"' in response.text
    after = deployment(api, history.id)
    assert after["name"] == "sales"


def test_rename_and_describe(api: Api) -> None:
    history = make_history(api)
    browser = editor(api, history.id)
    browser.submit(
        settings_path(history.id),
        form(name="sales-eu", description="EU sales", resources='{"workers": 3}'),
    )
    after = deployment(api, history.id)
    assert (after["name"], after["description"], after["resources"]) == (
        "sales-eu",
        "EU sales",
        {"workers": 3},
    )


def test_saving_unchanged_settings_records_no_change(api: Api) -> None:
    history = make_history(api)
    browser = editor(api, history.id)
    before = deployment(api, history.id)["updated_at"]
    assert browser.submit(settings_path(history.id), form(rollback_enabled="on")).status_code == 303
    assert deployment(api, history.id)["updated_at"] == before


def test_an_error_is_shown_beside_its_field(api: Api) -> None:
    history = make_history(api)
    api.new_deployment("taken")
    browser = editor(api, history.id)
    response = browser.submit(settings_path(history.id), form(name="taken"))
    assert response.status_code == 409
    assert '<p class="field-error" id="name-error">' in response.text
    name_input = response.text[response.text.index('id="name"') :].split(">", 1)[0]
    assert 'aria-invalid="true"' in name_input and 'aria-describedby="name-error"' in name_input
    assert '<a href="#name-error">Name</a>' in response.text  # the summary points at it
    assert deployment(api, history.id)["name"] == "sales"
