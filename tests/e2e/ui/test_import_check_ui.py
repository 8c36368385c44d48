"""Deploy History and the rollback dialog show each deploy's DAGs and import-check outcome.

Real server, real Chromium, and the import check run by a real Airflow 2.10.5 (a prepared
environment seeded into the server's cache): a deploy whose errors were recorded in
``warn`` mode, one an admin let through with ``allow_import_errors``, and the DAGs a
rollback makes appear or disappear. At a laptop's width and a phone's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.airflow_envs import seeded_cache, write_catalog
from tests.support.bundles import dag_file, make_bundle
from tests.support.process import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.airflow]

PASSWORD = "correct horse battery"
AIRFLOW_2 = "12.5.0"  # Airflow 2.10.5 in tests/support/airflow_envs.py's catalog
WIDTHS = (390, 1280)
MISSING_MODULE = "import tarmac_no_such_module\n" + dag_file("ml")
SYNTAX_ERROR = dag_file("broken").replace("pass", "pass)")


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def deploy(api: httpx.Client, dep_id: str, files: dict[str, str], **fields: str) -> Any:
    bundle = {"dags": ("dags.tar.gz", make_bundle(files), "application/gzip")}
    data = {"type": "DAG_ONLY", "description": "import check", **fields}
    return ok(api.post(f"/api/v1/deployments/{dep_id}/deploys", data=data, files=bundle), 201)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    """#1 passes; #2 has ml.py broken, recorded in warn mode; #3 adds the report DAG and a
    file with a syntax error, let through by the admin's override."""
    root = tmp_path_factory.mktemp("import-check-ui")
    seeded_cache(root / "environments", "2.10.5")
    server = ServerProcess(
        data_dir=root / "data",
        database_url=f"sqlite:///{root}/t.db",
        env={
            "TARMAC_RUNTIME_ENV_DIR": str(root / "environments"),
            "TARMAC_RUNTIME_CATALOG_FILE": str(write_catalog(root / "runtimes.json")),
            "TARMAC_IMPORT_CHECK_BUILD_ENVIRONMENTS": "false",
        },
    )
    server.start()
    try:
        with server.client() as api:
            dep = ok(
                api.post(
                    "/api/v1/deployments",
                    json={
                        "name": "imports",
                        "runtime_version": AIRFLOW_2,
                        "dag_deploy_mode": "dag_deploy",
                    },
                ),
                201,
            )
            dep_id = dep["id"]
            ok(api.patch(f"/api/v1/deployments/{dep_id}", json={"rollback_enabled": True}))
            etl = {"etl.py": dag_file("etl")}
            first = deploy(api, dep_id, etl)
            assert first["import_check"]["status"] == "passed"
            ok(api.patch(f"/api/v1/deployments/{dep_id}", json={"dag_import_check": "warn"}))
            warned = deploy(api, dep_id, {**etl, "ml.py": MISSING_MODULE})
            assert warned["import_check"]["status"] == "warned"
            ok(api.patch(f"/api/v1/deployments/{dep_id}", json={"dag_import_check": "block"}))
            files = {**etl, "ml.py": MISSING_MODULE, "report.py": dag_file("report")}
            allowed = deploy(
                api, dep_id, {**files, "broken.py": SYNTAX_ERROR}, allow_import_errors="true"
            )
            assert allowed["import_check"]["status"] == "allowed"
            login = {"username": "eddie", "password": PASSWORD}
            user = ok(api.post("/api/v1/users", json=login), 201)
            ok(
                api.put(
                    f"/api/v1/deployments/{dep_id}/members/{user['id']}",
                    json={"role": "DEPLOYMENT_EDITOR"},
                )
            )
        yield server, dep_id
    finally:
        server.stop()


def signed_in(browser: Browser, server: ServerProcess, width: int) -> Page:
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{server.url}/ui/login")
    page.get_by_label("Username").fill("eddie")
    page.get_by_label("Password").fill(PASSWORD)
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
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (selector, box)


@pytest.mark.parametrize("width", WIDTHS)
def test_history_shows_dag_ids_and_each_import_check_outcome(
    chromium: Browser, seeded: tuple[ServerProcess, str], width: int
) -> None:
    server, dep_id = seeded
    page = signed_in(chromium, server, width)
    page.goto(f"{server.url}/ui/deployments/{dep_id}/history")
    expect(page.get_by_role("heading", name="Deploy History")).to_be_visible()
    assert_fits(page, "history")

    first, warned, allowed = (page.locator(f"#deploy-{seq} td.dags") for seq in (1, 2, 3))
    expect(first.locator(".import-passed")).to_contain_text("imports")
    expect(first.locator(".import-passed")).to_contain_text("Airflow 2.10.5")
    first.locator("details.dag-ids summary").click()
    expect(first.locator("ul.dags li")).to_have_text(["etl"])

    expect(warned.locator(".import-warned .badge").first).to_have_text("import errors")
    expect(warned.locator(".import-warned")).to_contain_text("warn")
    expect(warned.locator(".import-errors li")).to_have_count(1)
    expect(warned.locator(".import-errors li")).to_contain_text("ml.py")
    expect(warned.locator(".import-errors pre")).to_contain_text("tarmac_no_such_module")
    assert_on_screen(page, "#deploy-2 td.dags .import-errors pre", width)

    expect(allowed.locator(".import-allowed .badge").first).to_have_text("import errors allowed")
    expect(allowed.locator(".import-allowed")).to_contain_text("override by admin")
    # Both broken files are listed; only the one #2 did not already have is new.
    expect(allowed.locator(".import-errors li")).to_have_count(2)
    expect(allowed.locator(".import-errors li", has_text="broken.py")).to_contain_text("new")
    known = allowed.locator(".import-errors li", has_text="ml.py")
    expect(known.locator(".badge")).to_have_count(0)
    expect(allowed.locator(".import-errors li", has_text="broken.py")).to_contain_text(
        "SyntaxError"
    )
    allowed.locator("details.dag-ids summary").click()
    expect(allowed.locator("ul.dags li")).to_have_text(["etl", "report"])
    assert_on_screen(page, "#deploy-3 td.dags details.dag-ids", width)
    assert_fits(page, "history, details open")
    page.context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_rollback_dialog_names_the_dags_that_disappear_and_the_targets_errors(
    chromium: Browser, seeded: tuple[ServerProcess, str], width: int
) -> None:
    server, dep_id = seeded
    page = signed_in(chromium, server, width)
    page.goto(f"{server.url}/ui/deployments/{dep_id}/history")
    with server.client() as api:
        items = ok(api.get(f"/api/v1/deployments/{dep_id}/deploys"))["items"]
    by_seq = {d["seq"]: d["id"] for d in items}

    # Live #3 defines etl and report; #1 only etl: report disappears from Airflow.
    page.goto(f"{server.url}/ui/deployments/{dep_id}/deploys/{by_seq[1]}/rollback")
    changes = page.locator("#dag-changes")
    expect(changes.locator("summary")).to_have_text(["1 disappear"])
    expect(changes.locator("li")).to_have_text(["report"])
    expect(page.locator("#target-import-errors")).to_have_count(0)
    expect(page.locator(".warning-runs_in_flight")).to_contain_text("DAG runs in progress")
    expect(page.locator(".warning-runs_in_flight")).to_contain_text("continue on the rolled-back")
    assert_on_screen(page, "#dag-changes li", width)
    assert_fits(page, "rollback to #1")

    # #2's code has an import error (recorded in warn mode): the dialog says so by file.
    page.goto(f"{server.url}/ui/deployments/{dep_id}/deploys/{by_seq[2]}/rollback")
    notice = page.locator("#target-import-errors")
    expect(notice).to_contain_text("import errors")
    expect(notice).to_contain_text("recorded in warn mode")
    expect(notice.locator("li")).to_have_text(["ml.py"])
    expect(page.locator("#dag-changes li")).to_have_text(["report"])
    assert_on_screen(page, "#target-import-errors li", width)
    assert_fits(page, "rollback to #2")
    page.context.close()
