"""The compare view, the DORA charts and the webhook log in a real Chromium, 390 and 1280 px.

Set TARMAC_SAVE_SCREENSHOTS=1 (``scripts/insight-screenshots.sh``) to refresh the
insight screenshots in docs/screenshots/ from this run.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.ui.test_rollback_flow import ok, seed, sign_in
from tests.support.bundles import dag_file, make_bundle
from tests.support.process import ServerProcess
from tests.support.webhook_receiver import WebhookReceiver, wait_for

SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"

pytestmark = pytest.mark.browser

WIDTHS = (390, 1280)
SECRET = "a-webhook-secret-of-some-length"


@pytest.fixture
def insight_server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path}/t.db",
        env={"TARMAC_WEBHOOK_ALLOW_LOOPBACK": "true", "TARMAC_WEBHOOK_POLL_SECONDS": "0.1"},
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def seed_insight(server: ServerProcess, receiver: WebhookReceiver) -> dict[str, Any]:
    """The rollback flow's five deploys, a sixth with Git metadata, a webhook and a rollback."""
    data = seed(server)
    dep_id = data["deployment"]["id"]
    with server.client() as api:
        ok(api.patch(f"/api/v1/deployments/{dep_id}", json={"rollback_enabled": True}))
        hook = ok(
            api.post(
                f"/api/v1/deployments/{dep_id}/webhooks",
                json={"url": receiver.url, "events": ["deploy.rollback"], "secret": SECRET},
            ),
            201,
        )
        files = {
            "revenue.py": dag_file("revenue", marker="v5")
            + "\n\ndef load(rows):\n    return [r for r in rows if r['amount'] > 0]\n",
            "pipeline.py": dag_file("pipeline"),
            "churn.py": dag_file("churn", marker="v2"),
            "logo.png": b"\x89PNG\r\n\x1a\n\x00binary",
        }
        sixth = ok(
            api.post(
                f"/api/v1/deployments/{dep_id}/deploys",
                data={
                    "type": "DAG_ONLY",
                    "description": "Skip refunds in the revenue load",
                    "git_commit": "9fceb02d0ae598e95dc970b74767f19372d61af8",
                    "git_branch": "main",
                    "git_remote_url": "git@github.com:acme/sales-dags.git",
                    "git_author": "Ada Lovelace <ada@example.com>",
                    "git_message": "Skip refunds in the revenue load",
                },
                files={"dags": ("d.tgz", make_bundle(files), "application/gzip")},
            ),
            201,
        )
        ok(
            api.post(
                f"/api/v1/deployments/{dep_id}/deploys/{data['deploys'][3]['id']}/rollback",
                json={"description": "refund filter dropped real sales"},
            ),
            201,
        )
    return {**data, "sixth": sixth, "hook": hook}


def no_page_overflow(page: Page) -> bool:
    """Nothing wider than the screen: wide content scrolls inside its own box."""
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
            .filter(e => !e.closest('.diff-body, .table-wrap'))
            .map(e => e.tagName + '.' + e.className).slice(0, 5)"""
    )
    fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert fits, f"wider than the screen: {wide}"
    return bool(fits)


def test_compare_view_charts_and_webhook_log_at_390_and_1280(
    insight_server: ServerProcess, chromium: Browser, tmp_path: Path
) -> None:
    with WebhookReceiver() as receiver:
        data = seed_insight(insight_server, receiver)
        dep_id = data["deployment"]["id"]
        wait_for(lambda: receiver.received, what="the rollback webhook")
        for width in WIDTHS:
            context = chromium.new_context(viewport={"width": width, "height": 900})
            context.set_default_timeout(15_000)
            try:
                page = context.new_page()
                sign_in(page, insight_server, "eddie")
                check_history_and_compare(page, insight_server, dep_id, width, tmp_path)
                check_rollback_dialog_link(page, insight_server, data, width)
                check_insight(page, insight_server, dep_id, width, tmp_path)
                check_webhooks(page, insight_server, dep_id, width, tmp_path)
            finally:
                context.close()
    save_screenshots(tmp_path)


def check_history_and_compare(
    page: Page, server: ServerProcess, dep_id: str, width: int, shots: Path
) -> None:
    page.goto(f"{server.url}/ui/deployments/{dep_id}/history")
    row = page.locator("#deploy-6")
    commit = row.locator("td.commit a")
    expect(commit).to_have_text("9fceb02d0a")
    expect(commit).to_have_attribute(
        "href", "https://github.com/acme/sales-dags/commit/9fceb02d0ae598e95dc970b74767f19372d61af8"
    )
    # The rollback #7 shows the commit it brought back: #4 had none.
    expect(page.locator("#deploy-7 td.commit")).to_have_text("—")
    row.get_by_role("link", name="Changes from #5 to #6").click()
    expect(page.get_by_role("heading", name="Compare deploy #5 → #6")).to_be_visible()
    expect(page.locator("#dag-files")).to_contain_text("1 added")
    revenue = page.locator("section.file-diff", has_text="revenue.py")
    expect(revenue.locator(".highlight .gi").first).to_be_visible()  # Pygments: inserted line
    css = page.request.get(f"{server.url}/ui/highlight.css")
    assert css.ok and ".highlight .gi" in css.text()  # served as a file: the CSP bars inline style
    expect(revenue).to_contain_text("return [r for r in rows if r['amount'] > 0]")
    expect(page.locator("section.file-diff", has_text="churn.py")).to_contain_text("+# v2")
    assert no_page_overflow(page), f"compare view overflows at {width}px"
    page.screenshot(path=str(shots / f"compare-{width}.png"), full_page=True)
    # Any two deploys, from the form.
    page.get_by_label("From #").fill("1")
    page.get_by_label("to #").fill("6")
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_role("heading", name="Compare deploy #1 → #6")).to_be_visible()
    expect(page.locator("#state-changes")).to_contain_text("9.1.0")
    expect(page.locator("#dag-ids")).to_have_text("+ churn")


def check_rollback_dialog_link(
    page: Page, server: ServerProcess, data: dict[str, Any], width: int
) -> None:
    dep_id = data["deployment"]["id"]
    target = data["deploys"][1]
    page.goto(f"{server.url}/ui/deployments/{dep_id}/deploys/{target['id']}/rollback")
    page.locator("#compare-link").click()
    expect(page.get_by_role("heading", name="Compare deploy #7 → #2")).to_be_visible()
    expect(page.locator("#state-changes")).to_contain_text("11.3.0")
    assert no_page_overflow(page), f"compare from the dialog overflows at {width}px"


def check_insight(page: Page, server: ServerProcess, dep_id: str, width: int, shots: Path) -> None:
    page.goto(f"{server.url}/ui/deployments/{dep_id}/insight")
    expect(page.locator("#fig-deploys .value")).to_have_text("6")
    expect(page.locator("#fig-rollbacks .value")).to_have_text("1")
    expect(page.locator("#fig-cfr .value")).to_have_text("17%")  # 1 of 6 rolled back
    chart = page.locator("figure.chart svg")
    expect(chart).to_have_attribute("aria-label", re.compile("6 deploys and 1 rollbacks"))
    expect(chart.locator("rect.bar.deploys")).to_have_count(1)  # all on today's bar
    expect(chart.locator("rect.bar.rollbacks")).to_have_count(1)
    box = chart.bounding_box()
    assert box is not None and box["width"] <= width and box["height"] > 80
    assert no_page_overflow(page), f"insight overflows at {width}px"
    page.screenshot(path=str(shots / f"insight-{width}.png"), full_page=True)
    page.get_by_role("link", name="7 days").click()
    expect(page.locator("figure.chart figcaption")).to_have_text("Deploys and rollbacks per day")
    page.goto(f"{server.url}/ui/insight?days=90")
    expect(page.locator("figure.chart figcaption")).to_have_text("Deploys and rollbacks per week")


def check_webhooks(page: Page, server: ServerProcess, dep_id: str, width: int, shots: Path) -> None:
    page.goto(f"{server.url}/ui/deployments/{dep_id}/webhooks")
    log = page.locator("table.deliveries tbody tr")
    expect(log).to_have_count(1)
    expect(log.first).to_contain_text("deploy.rollback")
    expect(log.first.locator(".badge")).to_have_text("delivered")
    assert no_page_overflow(page), f"webhooks page overflows at {width}px"
    page.screenshot(path=str(shots / f"webhooks-{width}.png"), full_page=True)


def test_an_editor_adds_and_removes_a_webhook_and_a_viewer_sees_none(
    insight_server: ServerProcess, chromium: Browser
) -> None:
    data = seed(insight_server)
    dep_id = data["deployment"]["id"]
    page_url = f"{insight_server.url}/ui/deployments/{dep_id}/webhooks"
    with WebhookReceiver() as receiver:
        context = chromium.new_context(viewport={"width": 390, "height": 900})
        context.set_default_timeout(15_000)
        try:
            page = context.new_page()
            sign_in(page, insight_server, "eddie")
            page.goto(page_url)
            expect(page.get_by_text("No webhooks yet.")).to_be_visible()
            # Refused by the URL policy: said on the page, and the form keeps what was typed.
            page.get_by_label("Receiver URL").fill("http://169.254.169.254/latest/meta-data/")
            page.get_by_label("deployment.held").check()
            page.get_by_label("Secret", exact=False).fill(SECRET)
            page.get_by_role("button", name="Add webhook").click()
            expect(page.locator("#webhook-error")).to_contain_text("Not added.")
            expect(page.get_by_label("Receiver URL")).to_have_value(
                "http://169.254.169.254/latest/meta-data/"
            )
            expect(page.get_by_label("deployment.held")).to_be_checked()
            expect(page.get_by_text("No webhooks yet.")).to_be_visible()

            page.get_by_label("Receiver URL").fill(receiver.url)
            page.get_by_label("Secret", exact=False).fill(SECRET)
            page.get_by_role("button", name="Add webhook").click()
            expect(page.get_by_role("status")).to_have_text("Webhook added.")
            card = page.locator("section.card", has_text=receiver.url)
            expect(card).to_contain_text("deployment.held")
            assert no_page_overflow(page), "webhooks form overflows at 390px"

            # It is live: a rollback holds the Deployment, and the receiver hears of it.
            with insight_server.client() as api:
                ok(api.patch(f"/api/v1/deployments/{dep_id}", json={"rollback_enabled": True}))
                target = data["deploys"][3]["id"]  # same runtime: no acknowledgement
                ok(
                    api.post(
                        f"/api/v1/deployments/{dep_id}/deploys/{target}/rollback",
                        json={"description": "v3 broke the nightly load"},
                    ),
                    201,
                )
            wait_for(
                lambda: (
                    {"deploy.rollback", "deployment.held"}
                    <= {r.headers["X-Tarmac-Event"] for r in receiver.received}
                ),
                what="the rollback's and the hold's deliveries",
            )

            card.get_by_role("button", name=f"Remove the webhook to {receiver.url}").click()
            expect(page.get_by_role("status")).to_have_text("Webhook removed.")
            expect(page.get_by_text("No webhooks yet.")).to_be_visible()

            viewer = chromium.new_context()
            try:
                other = viewer.new_page()
                sign_in(other, insight_server, "vic")
                other.goto(page_url)
                # As in the API: webhooks (URLs may carry tokens) are for config editors.
                expect(other.get_by_role("heading", name="Not allowed")).to_be_visible()
                expect(other.get_by_role("button", name="Add webhook")).to_have_count(0)
            finally:
                viewer.close()
        finally:
            context.close()


def save_screenshots(source: Path) -> None:
    if not os.environ.get("TARMAC_SAVE_SCREENSHOTS"):
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        for name in ("compare", "insight", "webhooks"):
            shutil.copyfile(source / f"{name}-{width}.png", SCREENSHOTS / f"{name}-{width}.png")
