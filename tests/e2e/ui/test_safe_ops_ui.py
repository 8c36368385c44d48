"""Safe operations in a real Chromium: the bad mark in history, the last-good shortcut, the
hold banner and its Clear button."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.e2e.ui.test_rollback_flow import PASSWORD, ok, sign_in
from tests.support.bundles import dag_file, make_bundle
from tests.support.process import ServerProcess

pytestmark = pytest.mark.browser


def _seed(server: ServerProcess) -> dict[str, Any]:
    """Three DAG-only deploys, #2 marked bad, rollbacks on, and an editor."""
    with server.client() as api:
        dep = ok(
            api.post(
                "/api/v1/deployments",
                json={
                    "name": "orders",
                    "runtime_version": "12.4.0",
                    "dag_deploy_mode": "dag_deploy",
                },
            ),
            201,
        )
        deploys = []
        for n in (1, 2, 3):
            bundle = make_bundle({"orders.py": dag_file("orders", marker=f"v{n}")})
            deploys.append(
                ok(
                    api.post(
                        f"/api/v1/deployments/{dep['id']}/deploys",
                        data={"type": "DAG_ONLY", "description": f"orders v{n}"},
                        files={"dags": ("dags.tar.gz", bundle, "application/gzip")},
                    ),
                    201,
                )
            )
        ok(api.patch(f"/api/v1/deployments/{dep['id']}", json={"rollback_enabled": True}))
        ok(
            api.post(
                f"/api/v1/deployments/{dep['id']}/deploys/{deploys[1]['id']}/mark-bad",
                json={"reason": "drops late orders"},
            )
        )
        user = ok(api.post("/api/v1/users", json={"username": "eddie", "password": PASSWORD}), 201)
        ok(
            api.put(
                f"/api/v1/deployments/{dep['id']}/members/{user['id']}",
                json={"role": "DEPLOYMENT_EDITOR"},
            )
        )
    return {"deployment": dep, "deploys": deploys}


def test_bad_mark_last_good_and_the_hold_in_the_browser(
    server: ServerProcess, new_context: Callable[[], BrowserContext]
) -> None:
    data = _seed(server)
    dep_id = data["deployment"]["id"]
    page = new_context().new_page()
    sign_in(page, server, "eddie")
    page.get_by_role("link", name="orders").first.click()
    expect(page.get_by_role("heading", name="Deploy History")).to_be_visible()

    # The bad mark, who and why, and no Deploy button on it.
    bad_row = page.locator("#deploy-2")
    expect(bad_row.locator(".badge.bad")).to_have_text("marked bad")
    expect(bad_row).to_contain_text("by admin: drops late orders")
    expect(bad_row.locator(".action")).to_contain_text("Marked bad")
    expect(page.locator("#hold-banner")).to_have_count(0)

    # Its dialog makes the mark a box to tick.
    page.goto(f"{server.url}/ui/deployments/{dep_id}/deploys/{data['deploys'][1]['id']}/rollback")
    expect(page.locator("#target-marked-bad")).to_contain_text("drops late orders")
    page.get_by_label("Why are you rolling back?").fill("v3 broke")
    expect(page.locator("#confirm")).to_be_disabled()
    page.locator("#ack-marked_bad").check()
    expect(page.locator("#confirm")).to_be_enabled()
    page.get_by_role("link", name="Cancel").click()

    # The last-good shortcut skips the bad #2 and goes to #1.
    shortcut = page.get_by_role("link", name="Roll back to last good (#1)")
    expect(shortcut).to_be_visible()
    shortcut.click()
    expect(page.get_by_role("heading", name="Roll back to deploy #1")).to_be_visible()
    page.get_by_label("Why are you rolling back?").fill("v3 loses orders at midnight")
    page.locator("#confirm").click()
    expect(page.get_by_role("status")).to_contain_text("deploy #4 is live with the code of #1")

    # The hold banner names the rollback, who and why; Clear needs a reason.
    banner = page.locator("#hold-banner")
    expect(banner).to_contain_text("Held after rollback #4")
    expect(banner).to_contain_text("by eddie")
    expect(banner).to_contain_text("v3 loses orders at midnight")
    with server.client() as api:
        held = api.get(f"/api/v1/deployments/{dep_id}").json()["hold"]
        assert held["set_by"] == "eddie"
    page.get_by_role("button", name="Clear hold").click()  # empty reason: the form stays
    expect(banner).to_be_visible()
    page.get_by_label("Why clear it?").fill("fix for the midnight job merged")
    page.get_by_role("button", name="Clear hold").click()
    expect(page.get_by_role("status")).to_have_text(
        re.compile("Hold cleared: plain deploys are accepted again")
    )
    expect(page.locator("#hold-banner")).to_have_count(0)
    with server.client() as api:
        assert api.get(f"/api/v1/deployments/{dep_id}").json()["hold"] is None
