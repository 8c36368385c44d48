"""Every page fits a phone (390 px) and a laptop (1280 px): no sideways scrolling, and the
history's Roll back action on screen. Seeded with exactly what ``tarmac demo`` creates."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tarmac.demo.sample import (
    DEMO_PASSWORD,
    DEMO_USER,
    VALUES_YAML,
    VIEWER_PASSWORD,
    VIEWER_USER,
    seed_demo,
)
from tests.support.process import ServerProcess

pytestmark = pytest.mark.browser

WIDTHS = (390, 1280)


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    root = tmp_path_factory.mktemp("responsive")
    server = ServerProcess(
        data_dir=root / "data", database_url=f"sqlite:///{root}/t.db", values=VALUES_YAML
    )
    server.start()
    try:
        with server.client() as api:
            deployment_id = seed_demo(api)["Sales ETL"]
        yield server, deployment_id
    finally:
        server.stop()


def signed_in(browser: Browser, server: ServerProcess, width: int, user: str) -> Page:
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{server.url}/ui/login")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(DEMO_PASSWORD if user == DEMO_USER else VIEWER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Deployments")).to_be_visible()
    return page


def assert_fits(page: Page, what: str) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{what}: page is {widths[0]} px wide in {widths[1]} px"


def assert_on_screen(page: Page, selector: str, width: int) -> None:
    element = page.locator(selector).first
    expect(element).to_be_visible()
    box = element.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_the_screen(
    chromium: Browser, demo_server: tuple[ServerProcess, str], width: int
) -> None:
    server, deployment_id = demo_server
    base = f"{server.url}/ui/deployments/{deployment_id}"

    login = chromium.new_context(viewport={"width": width, "height": 900}).new_page()
    login.goto(f"{server.url}/ui/login")
    assert_fits(login, "login")
    login.context.close()

    page = signed_in(chromium, server, width, DEMO_USER)
    assert_fits(page, "deployments")
    assert_on_screen(page, ".topbar button:has-text('Sign out')", width)
    expect(page.locator("td[data-label='Rollbacks']").first).to_have_text("On")

    page.goto(f"{base}/history")
    assert_fits(page, "history")
    for cell in ("th[scope=row]", "td.when", "td.description", "td.status"):
        assert_on_screen(page, f"#deploy-1 {cell}", width)
    assert_on_screen(page, "#deploy-1 td.action a.button", width)

    page.locator("#deploy-1 td.action a.button").click()
    expect(page.get_by_role("heading", name="Roll back to deploy #1")).to_be_visible()
    assert_fits(page, "rollback dialog")

    page.goto(f"{base}/settings")
    assert_fits(page, "settings")
    page.locator("#resources").fill("{not json")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#resources-error")).to_contain_text("not valid JSON")
    expect(page.locator("#resources")).to_have_attribute("aria-invalid", "true")
    assert_fits(page, "settings with an error")

    page.goto(f"{server.url}/ui/deployments/no-such-deployment/history")
    assert_fits(page, "not found")
    page.context.close()

    viewer = signed_in(chromium, server, width, VIEWER_USER)
    viewer.goto(f"{base}/history")
    assert_fits(viewer, "history, read-only")
    notice = viewer.locator("#notice-permission_denied")
    expect(notice).to_contain_text("Deployment Editor")
    assert ".push" not in notice.inner_text()
    viewer.goto(f"{base}/settings")
    assert_fits(viewer, "settings, read-only")
    viewer.context.close()


def test_every_page_has_a_favicon(demo_server: tuple[ServerProcess, str]) -> None:
    server, _ = demo_server
    icon = httpx.get(f"{server.url}/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg")
    login = httpx.get(f"{server.url}/ui/login")
    assert 'rel="icon"' in login.text
