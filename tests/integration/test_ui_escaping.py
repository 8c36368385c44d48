"""User data with HTML and script in it is shown as text on every page, never run."""

from __future__ import annotations

from tests.integration.test_ui_support import (
    dialog_path,
    history_path,
    new_login,
    settings_path,
    signed_in,
)
from tests.support.bundles import dag_file, make_bundle
from tests.support.server import Api

SCRIPT = '<script>alert("x")</script>'
IMG = "<img src=x onerror=alert(1)>"
ESCAPED_SCRIPT = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"
ESCAPED_IMG = "&lt;img src=x onerror=alert(1)&gt;"


def assert_inert(html: str, page: str = "") -> None:
    """No markup from user data: only the page's own script tag (with a src) exists."""
    assert "<script>" not in html, page
    assert "<img" not in html, page
    assert "onerror=alert" not in html.replace(ESCAPED_IMG, ""), page


def test_html_in_descriptions_and_dag_file_names_is_escaped(api: Api) -> None:
    dep = api.new_deployment(
        f"web {IMG}",
        description=f"about {SCRIPT}",
        env_vars=[{"key": "NOTE", "value": SCRIPT}],
        resources={"note": SCRIPT},
    )
    old = make_bundle({"etl.py": dag_file("etl"), f"{IMG}.py": dag_file("img")})
    new = make_bundle({"etl.py": dag_file("etl", marker="2"), f"{SCRIPT}.py": dag_file("s")})
    v1 = api.ok(
        api.deploy(dep["id"], type="DAG_ONLY", dags=old, description=f"first {SCRIPT}"), 201
    )
    api.ok(api.deploy(dep["id"], type="DAG_ONLY", dags=new, description=f"second {IMG}"), 201)
    api.ok(api.patch(f"/api/v1/deployments/{dep['id']}", json={"rollback_enabled": True}))
    new_login(api, "root", system_role="SYSTEM_ADMIN")
    browser = signed_in(api, "root")

    pages = {
        "list": browser.get("/ui/deployments").text,
        "history": browser.get(history_path(dep["id"])).text,
        "dialog": browser.get(dialog_path(dep["id"], v1["id"])).text,
        "settings": browser.get(settings_path(dep["id"])).text,
    }
    for name, html in pages.items():
        assert_inert(html, name)
        assert ESCAPED_IMG in html, name  # the Deployment's name, in every page's heading
    assert f"first {ESCAPED_SCRIPT}" in pages["history"]
    assert f"second {ESCAPED_IMG}" in pages["history"]
    assert f"{ESCAPED_IMG}.py" in pages["dialog"]  # added back by the rollback
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;.py" in pages["dialog"]  # removed
    assert f"about {ESCAPED_SCRIPT}" in pages["settings"]
    assert f'value="{ESCAPED_SCRIPT}"' in pages["settings"]


def test_a_rollback_description_with_script_is_shown_as_text(api: Api) -> None:
    dep = api.new_deployment("sales")
    v1 = api.ok(api.deploy(dep["id"], type="DAG_ONLY", dags=make_bundle({"a.py": "1"})), 201)
    api.ok(api.deploy(dep["id"], type="DAG_ONLY", dags=make_bundle({"a.py": "2"})), 201)
    api.ok(api.patch(f"/api/v1/deployments/{dep['id']}", json={"rollback_enabled": True}))
    new_login(api, "root", system_role="SYSTEM_ADMIN")
    browser = signed_in(api, "root")
    response = browser.submit(dialog_path(dep["id"], v1["id"]), {"description": SCRIPT})
    assert response.status_code == 303, response.text
    html = browser.get(response.headers["location"]).text
    assert ESCAPED_SCRIPT in html
    assert_inert(html)
