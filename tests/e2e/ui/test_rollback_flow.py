"""The source document's flow in a real Chromium against a real server process.

Settings → toggle Rollback Deploy; Deploy History → find the deploy → Deploy → write why →
confirm. (docs/screenshots/ come from scripts/screenshots.py, run against the demo.)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.support.bundles import dag_file, make_bundle
from tests.support.process import ServerProcess

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"


def seed(server: ServerProcess) -> dict[str, Any]:
    """A Deployment with five deploys (#1 on a restricted runtime), an editor and a viewer."""
    with server.client() as api:
        dep = ok(
            api.post(
                "/api/v1/deployments",
                json={
                    "name": "sales-analytics",
                    "description": "Nightly revenue and pipeline reporting",
                    "runtime_version": "9.1.0",
                    "dag_deploy_mode": "dag_deploy",
                    "executor": "CeleryExecutor",
                    "resources": {"scheduler": {"replicas": 2}, "workers": {"max": 10}},
                    "env_vars": [
                        {"key": "WAREHOUSE", "value": "snowflake-prod"},
                        {"key": "API_KEY", "value": "s3cr3t", "is_secret": True},
                    ],
                },
            ),
            201,
        )
        files = {"revenue.py": dag_file("revenue"), "pipeline.py": dag_file("pipeline")}
        deploys = [
            deploy(api, dep, "IMAGE_AND_DAG", "9.1.0", files, "Initial import of the DAGs"),
            deploy(
                api,
                dep,
                "IMAGE_AND_DAG",
                "11.3.0",
                {**files, "forecast.py": dag_file("forecast")},
                "Add forecast DAG; runtime 11.3",
            ),
            deploy(
                api,
                dep,
                "DAG_ONLY",
                None,
                {**files, "forecast.py": dag_file("forecast", marker="v2")},
                "Fix forecast schedule",
            ),
            deploy(
                api,
                dep,
                "IMAGE_AND_DAG",
                "12.4.0",
                {
                    "revenue.py": dag_file("revenue", marker="v3"),
                    "pipeline.py": dag_file("pipeline"),
                    "forecast.py": dag_file("forecast", marker="v2"),
                    "churn.py": dag_file("churn"),
                },
                "Upgrade to runtime 12.4 and add churn model",
            ),
            deploy(
                api,
                dep,
                "DAG_ONLY",
                None,
                {
                    "revenue.py": dag_file("revenue", marker="v4"),
                    "pipeline.py": dag_file("pipeline"),
                    "churn.py": dag_file("churn"),
                },
                "Refactor revenue DAG (breaks the nightly load)",
            ),
        ]
        users = {}
        for name, role in (("eddie", "DEPLOYMENT_EDITOR"), ("vic", "DEPLOYMENT_VIEWER")):
            user = ok(api.post("/api/v1/users", json={"username": name, "password": PASSWORD}), 201)
            ok(
                api.put(
                    f"/api/v1/deployments/{dep['id']}/members/{user['id']}", json={"role": role}
                )
            )
            users[name] = user
    return {"deployment": dep, "deploys": deploys, "users": users}


def deploy(
    api: httpx.Client,
    dep: dict[str, Any],
    kind: str,
    runtime: str | None,
    files: dict[str, str],
    description: str,
) -> dict[str, Any]:
    data = {"type": kind, "description": description}
    if kind != "DAG_ONLY":
        data |= {"image": f"registry.example.com/sales:{runtime}", "runtime_version": str(runtime)}
    bundle = {"dags": ("dags.tar.gz", make_bundle(dict(files)), "application/gzip")}
    return ok(api.post(f"/api/v1/deployments/{dep['id']}/deploys", data=data, files=bundle), 201)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def sign_in(page: Page, server: ServerProcess, username: str) -> None:
    page.goto(f"{server.url}/ui/")
    expect(page.get_by_role("heading", name="Sign in to tarmac")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Deployments")).to_be_visible()


def history_rows(page: Page) -> list[str]:
    return page.locator("table.history tbody tr").evaluate_all("rows => rows.map(r => r.id)")


def test_roll_back_in_the_browser(
    server: ServerProcess, new_context: Callable[[], BrowserContext], tmp_path: Path
) -> None:
    data = seed(server)
    dep_id = data["deployment"]["id"]
    page = new_context().new_page()
    sign_in(page, server, "eddie")

    # Deploy History, with rollbacks still off for the Deployment: refused, with the way out.
    page.get_by_role("link", name="sales-analytics").first.click()
    expect(page.get_by_role("heading", name="Deploy History")).to_be_visible()
    expect(page.locator("#notice-rollback_not_enabled")).to_contain_text("not enabled")
    page.locator("#deploy-2").get_by_role("link", name=re.compile("Deploy #2")).click()
    expect(page.locator("#refusal-rollback_not_enabled")).to_contain_text(
        "turn on Rollback Deploy in its settings"
    )
    expect(page.locator("#rollback-form")).to_have_count(0)

    # Settings → toggle Rollback Deploy.
    page.get_by_role("link", name="Turn on Rollback Deploy in Settings").click()
    toggle = page.get_by_role("switch", name="Enable deploy rollbacks for this Deployment")
    expect(toggle).not_to_be_checked()
    toggle.check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_have_text("Settings saved.")
    expect(toggle).to_be_checked()

    # Deploy History → find #2 → Deploy: a downgrade from 12.4.0 to 11.3.0.
    page.get_by_role("link", name="Deploy History").click()
    expect(page.locator("#notice-rollback_not_enabled")).to_have_count(0)
    assert history_rows(page) == [f"deploy-{n}" for n in (5, 4, 3, 2, 1)]
    expect(page.locator("#deploy-1")).to_contain_text("restricted")
    page.locator("#deploy-2").get_by_role("link", name=re.compile("Deploy #2")).click()
    expect(page.locator("#runtime-direction")).to_have_text("downgrade")
    expect(page.get_by_text("What is erased")).to_be_visible()

    confirm = page.locator("#confirm")
    description = page.get_by_label("Why are you rolling back?")
    expect(confirm).to_be_disabled()
    page.locator("#ack-data_loss").check()
    expect(confirm).to_be_disabled()
    expect(page.locator("#note-running_tasks")).to_be_visible()  # information, no tick
    expect(page.locator("#ack-running_tasks")).to_have_count(0)
    expect(confirm).to_be_disabled()  # every warning ticked, no description yet
    description.fill("   ")
    expect(confirm).to_be_disabled()  # blank is not a description
    description.fill("Revenue refactor broke the nightly load")
    expect(page.locator("#description-count")).to_have_text("39 / 500 characters")
    expect(confirm).to_be_enabled()
    page.locator("#ack-data_loss").uncheck()
    expect(confirm).to_be_disabled()
    page.locator("#ack-data_loss").check()
    expect(confirm).to_be_enabled()

    confirm.click()
    expect(page.get_by_role("status")).to_contain_text("deploy #6 is live with the code of #2")
    assert history_rows(page)[0] == "deploy-6"
    top = page.locator("#deploy-6")
    expect(top.locator(".badge.live")).to_have_text("live")
    expect(top).to_contain_text("rollback to #2")
    expect(top).to_contain_text("Revenue refactor broke the nightly load")
    expect(page.locator("#deploy-5 .badge.live")).to_have_count(0)

    with server.client() as api:
        live = ok(api.get(f"/api/v1/deployments/{dep_id}"))
        assert live["runtime_version"] == "11.3.0"
        assert (
            live["current_deploy_id"]
            == ok(api.get(f"/api/v1/deployments/{dep_id}/deploys"))["items"][0]["id"]
        )


def test_viewer_sees_history_without_deploy_buttons_and_a_forged_post_is_refused(
    server: ServerProcess, new_context: Callable[[], BrowserContext]
) -> None:
    data = seed(server)
    dep_id = data["deployment"]["id"]
    target = data["deploys"][1]
    with server.client() as api:
        ok(api.patch(f"/api/v1/deployments/{dep_id}", json={"rollback_enabled": True}))
    page = new_context().new_page()
    sign_in(page, server, "vic")
    page.goto(f"{server.url}/ui/deployments/{dep_id}/history")
    assert history_rows(page) == [f"deploy-{n}" for n in (5, 4, 3, 2, 1)]
    expect(
        page.locator("table.history").get_by_role("link", name=re.compile("Deploy"))
    ).to_have_count(0)
    expect(page.locator("#notice-permission_denied")).to_contain_text("Deployment Editor")

    # Forge the rollback POST from the page itself, with the viewer's own valid CSRF token.
    status = page.evaluate(
        """async ([url, ack]) => {
            const body = new FormData();
            body.append("csrf_token", document.querySelector("input[name=csrf_token]").value);
            body.append("description", "forged by a viewer");
            for (const code of ack) body.append("acknowledge", code);
            const response = await fetch(url, {method: "POST", body, redirect: "manual"});
            return response.status;
        }""",
        [
            f"/ui/deployments/{dep_id}/deploys/{target['id']}/rollback",
            ["data_loss", "running_tasks"],
        ],
    )
    assert status == 403
    with server.client() as api:
        history = ok(api.get(f"/api/v1/deployments/{dep_id}/deploys"))["items"]
        assert [d["seq"] for d in history] == [5, 4, 3, 2, 1]
        assert ok(api.get(f"/api/v1/deployments/{dep_id}"))["current_deploy_id"] == history[0]["id"]
