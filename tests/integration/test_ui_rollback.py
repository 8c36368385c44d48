"""The Deploy History page and the rollback dialog, through the UI's own forms."""

from __future__ import annotations

import re
from pathlib import Path

from tests.integration.rollback_setup import error_code, make_history, rollback
from tests.integration.test_ui_support import (
    Browser,
    csrf_of,
    deploy_buttons,
    dialog_path,
    history_path,
    new_login,
    settings_path,
    signed_in,
)
from tests.support.server import ALL_FLAGS_ON, Api, running_tarmac


def editor(api: Api, deployment_id: str) -> Browser:
    new_login(api, "eddie", deployment_id=deployment_id, deployment_role="DEPLOYMENT_EDITOR")
    return signed_in(api, "eddie")


def test_history_rows_show_live_badge_and_deploy_buttons(api: Api) -> None:
    history = make_history(api, runtime_v1="11.3.0", runtime_v2="12.4.0")
    page = editor(api, history.id).get(history_path(history.id))
    assert page.status_code == 200
    rows = re.findall(r'<tr id="deploy-(\d+)"', page.text)
    assert rows == ["2", "1"]  # newest first
    assert deploy_buttons(page.text) == 1  # #1; #2 is live
    assert "Live now" in page.text
    assert '<span class="badge live">live</span>' in page.text
    assert dialog_path(history.id, history.v1["id"]) in page.text


def test_dialog_shows_the_downgrade_plan_and_each_warning(api: Api) -> None:
    history = make_history(api, runtime_v1="11.3.0", runtime_v2="12.4.0")
    page = editor(api, history.id).get(dialog_path(history.id, history.v1["id"]))
    assert page.status_code == 200
    html = page.text
    assert 'id="runtime-direction">downgrade<' in html
    assert "12.4.0" in html and "11.3.0" in html
    assert 'id="ack-data_loss"' in html
    # Running tasks is information, as in the API: no checkbox to tick.
    assert 'id="note-running_tasks"' in html and 'id="ack-running_tasks"' not in html
    assert "What is erased" in html  # the table list of the data-loss warning
    assert "new_only.py" in html and "old_only.py" in html  # DAG files removed / added
    assert "REGION" in html  # environment variables are kept
    assert 'id="confirm" disabled' in html
    assert 'maxlength="500"' in html


def test_confirm_rolls_back_and_the_new_row_is_live_on_top(api: Api) -> None:
    history = make_history(api, runtime_v1="11.3.0", runtime_v2="12.4.0")
    browser = editor(api, history.id)
    response = browser.submit(
        dialog_path(history.id, history.v1["id"]),
        {
            "description": "v2 broke the nightly load",
            "acknowledge": ["data_loss", "running_tasks"],
        },
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith(history_path(history.id) + "?rolled_back=")
    page = browser.get(response.headers["location"])
    assert "Rolled back: deploy #3 is live with the code of #1." in page.text
    top = page.text.split('<tr id="deploy-')[1]
    assert top.startswith('3"') and "rollback to #1" in top and "badge live" in top
    newest = api.history(history.id)[0]
    assert newest["rollback_from_id"] == history.v1["id"]
    assert newest["description"] == "v2 broke the nightly load"
    assert newest["created_by"] == "eddie"


def test_server_refuses_without_the_data_loss_tick(api: Api) -> None:
    history = make_history(api, runtime_v1="11.3.0", runtime_v2="12.4.0")
    browser = editor(api, history.id)
    response = browser.submit(
        dialog_path(history.id, history.v1["id"]),
        {"description": "v2 broke", "acknowledge": ["running_tasks"]},
    )
    assert response.status_code == 409
    assert "Not rolled back." in response.text and "data_loss" in response.text
    assert len(api.history(history.id)) == 2


def test_running_tasks_needs_no_tick_in_the_ui_as_in_the_api(api: Api) -> None:
    history = make_history(api, runtime_v1="11.3.0", runtime_v2="12.4.0")
    response = editor(api, history.id).submit(
        dialog_path(history.id, history.v1["id"]),
        {"description": "v2 broke", "acknowledge": ["data_loss"]},
    )
    assert response.status_code == 303, response.text
    assert len(api.history(history.id)) == 3
    # The API agrees (DESIGN §6): running_tasks is not even a code it lets you acknowledge.
    again = make_history(api, name="again", runtime_v1="11.3.0", runtime_v2="12.4.0")
    refused = rollback(api, again, again.v1, acknowledge=["data_loss", "running_tasks"])
    assert refused.status_code == 400 and error_code(refused) == "invalid_request"
    by_api = rollback(api, again, again.v1, acknowledge=["data_loss"])
    assert by_api.status_code == 201, by_api.text


def test_server_refuses_a_blank_description(api: Api) -> None:
    history = make_history(api)
    response = editor(api, history.id).submit(
        dialog_path(history.id, history.v1["id"]), {"description": "   "}
    )
    assert response.status_code == 400
    assert "Describe why you are rolling back." in response.text
    assert len(api.history(history.id)) == 2


def test_toggle_off_history_says_so_and_the_dialog_refuses(api: Api) -> None:
    history = make_history(api, rollback_enabled=False)
    browser = editor(api, history.id)
    page = browser.get(history_path(history.id))
    assert 'id="notice-rollback_not_enabled"' in page.text
    assert settings_path(history.id) + "#rollback-toggle" in page.text
    dialog = browser.get(dialog_path(history.id, history.v1["id"]))
    assert 'id="refusal-rollback_not_enabled"' in dialog.text
    assert "Turn on Rollback Deploy in Settings" in dialog.text
    assert 'id="rollback-form"' not in dialog.text
    forced = browser.post(
        dialog_path(history.id, history.v1["id"]),
        {"csrf_token": csrf_of(dialog.text), "description": "try anyway"},
    )
    assert forced.status_code == 409
    assert "not enabled for Deployment sales" in forced.text
    assert len(api.history(history.id)) == 2


def test_rows_too_old_say_why(tmp_path: Path, database_url: str) -> None:
    values = ALL_FLAGS_ON.replace("olderThan: 90", "olderThan: 0")
    with running_tarmac(data_dir=tmp_path / "d", database_url=database_url, values=values) as api:
        history = make_history(api)
        page = editor(api, history.id).get(history_path(history.id))
        assert deploy_buttons(page.text) == 0
        assert "Older than 0 days" in page.text


def test_rows_below_runtime_5_say_why(api: Api) -> None:
    history = make_history(api, runtime_v1="4.4.0", runtime_v2="12.4.0")
    page = editor(api, history.id).get(history_path(history.id))
    assert deploy_buttons(page.text) == 0
    row = page.text.split('<tr id="deploy-1"')[1].split("</tr>")[0]
    assert "Runtime below 5.0.0" in row


def test_restricted_runtime_has_a_badge_reason_and_a_warning(api: Api) -> None:
    history = make_history(api, runtime_v1="9.1.0", runtime_v2="12.4.0")
    browser = editor(api, history.id)
    row = browser.get(history_path(history.id)).text.split('<tr id="deploy-1"')[1]
    assert "restricted</span>" in row.split("</tr>")[0]
    dialog = browser.get(dialog_path(history.id, history.v1["id"])).text
    assert 'id="ack-restricted_runtime"' in dialog
    assert "Restricted runtime versions can include major bugs" in dialog


def test_history_pages_with_a_keyset_cursor(api: Api) -> None:
    history = make_history(api)
    for n in range(3, 24):
        api.ok(api.deploy(history.id, type="IMAGE_ONLY", image=f"repo/img:{n}"), 201)
    browser = editor(api, history.id)
    first = browser.get(history_path(history.id)).text
    seqs = [int(s) for s in re.findall(r'<tr id="deploy-(\d+)"', first)]
    assert seqs == list(range(23, 3, -1))
    older = re.search(r'href="([^"]+)" rel="next"', first)
    assert older
    second = browser.get(older.group(1).replace("&amp;", "&")).text
    assert [int(s) for s in re.findall(r'<tr id="deploy-(\d+)"', second)] == [3, 2, 1]
    assert 'rel="next"' not in second and "« Newest" in second


def test_deployments_list(api: Api) -> None:
    history = make_history(api)
    page = editor(api, history.id).get("/ui/deployments").text
    assert "sales" in page and "12.4.0" in page and "DAG deploys" in page
    assert "#2" in page  # live deploy
    assert "just now" in page
