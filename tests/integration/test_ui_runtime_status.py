"""The Deploy History page shows what really runs beside what the record says."""

from __future__ import annotations

import html
import re

from tests.integration.rollback_setup import make_history
from tests.integration.test_ui_support import history_path, new_login, signed_in
from tests.support.server import Api


def _status_text(page: str) -> str:
    block = re.search(r'<div[^>]*id="runtime-status".*?</div>', page, re.S)
    assert block is not None
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", block.group(0))).split())


def test_history_says_nothing_is_known_until_a_runtime_side_reports(api: Api) -> None:
    history = make_history(api)
    new_login(api, "vic", deployment_id=history.id, deployment_role="DEPLOYMENT_VIEWER")
    text = _status_text(signed_in(api, "vic").get(history_path(history.id)).text)
    assert "no runtime side has reported" in text
    assert "deploy #2 is live" in text


def test_history_shows_the_running_airflow_and_a_failed_rollout(api: Api) -> None:
    history = make_history(api, runtime_v1="12.4.0", runtime_v2="12.11.0")
    new_login(api, "vic", deployment_id=history.id, deployment_role="DEPLOYMENT_VIEWER")
    browser = signed_in(api, "vic")
    runtime = f"/api/v1/deployments/{history.id}/runtime"
    api.ok(
        api.put(
            runtime,
            json={
                "state": "running",
                "reached_deploy_id": history.v2["id"],
                "airflow_version": "2.10.5",
                "components": [{"name": "scheduler", "healthy": True}],
            },
        )
    )
    assert "deploy #2: Airflow 2.10.5 running, healthy." in _status_text(
        browser.get(history_path(history.id)).text
    )
    api.ok(
        api.put(
            runtime,
            json={
                "state": "failed",
                "rollout_deploy_id": history.v2["id"],
                "reached_deploy_id": history.v1["id"],
                "restored_deploy_id": history.v1["id"],
                "error": "airflow db migrate failed (exit 1)",
            },
        )
    )
    text = _status_text(browser.get(history_path(history.id)).text)
    assert "deploy #2 failed: airflow db migrate failed (exit 1); deploy #1 was restored." in text


def test_history_lists_the_live_dag_files_airflow_fails_to_import(api: Api) -> None:
    history = make_history(api)
    new_login(api, "vic", deployment_id=history.id, deployment_role="DEPLOYMENT_VIEWER")
    api.ok(
        api.put(
            f"/api/v1/deployments/{history.id}/runtime",
            json={
                "state": "running",
                "reached_deploy_id": history.v2["id"],
                "airflow_version": "2.10.5",
                "components": [{"name": "scheduler", "healthy": False}],
                "import_errors": [
                    {"file": "load.py", "error": "No module named 'pandas_x'", "new": True},
                    {"file": "old.py", "error": "SyntaxError: <b>bad</b>", "new": False},
                ],
            },
        )
    )
    page = signed_in(api, "vic").get(history_path(history.id)).text
    text = _status_text(page)
    assert "Airflow fails to import 2 live DAG files:" in text
    assert "load.py (new with this deploy): No module named 'pandas_x'" in text
    assert "old.py : SyntaxError: <b>bad</b>" in text  # shown as text, never as markup
    assert "<b>bad</b>" not in page
    assert "Unhealthy without a break since" in text
