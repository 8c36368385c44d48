"""Insight pages over HTTP: user data (file contents, names, Git fields, URLs) stays inert."""

from __future__ import annotations

from tests.integration.test_ui_escaping import ESCAPED_IMG, IMG, SCRIPT, assert_inert
from tests.integration.test_ui_support import new_login, signed_in
from tests.support.bundles import make_bundle
from tests.support.server import Api


def test_compare_insight_and_webhook_pages_escape_user_data(api: Api) -> None:
    dep = api.new_deployment(f"web {IMG}")
    first = make_bundle({"etl.py": f"x = 1  # {SCRIPT}\n", f"{IMG}.py": "# gone\n"})
    second = make_bundle({"etl.py": f"x = 2  # {IMG}\n", f"{SCRIPT}.py": "# new\n"})
    api.ok(api.deploy(dep["id"], dags=first), 201)
    api.ok(
        api.post(
            f"/api/v1/deployments/{dep['id']}/deploys",
            data={
                "type": "DAG_ONLY",
                "git_commit": "abcdef1",
                "git_branch": f"feature/{IMG}",
                "git_message": SCRIPT,
                "git_remote_url": "https://github.com/acme/x.git",
            },
            files={"dags": ("d.tgz", second, "application/gzip")},
        ),
        201,
    )
    api.ok(
        api.post(
            f"/api/v1/deployments/{dep['id']}/webhooks",
            json={
                "url": f"https://hooks.example.com/{IMG}",
                "events": ["deploy.created"],
                "secret": "a-webhook-secret-of-some-length",
            },
        ),
        201,
    )
    new_login(api, "root", system_role="SYSTEM_ADMIN")
    browser = signed_in(api, "root")
    pages = {
        "compare": browser.get(f"/ui/deployments/{dep['id']}/compare?a=1&b=2"),
        "insight": browser.get(f"/ui/deployments/{dep['id']}/insight"),
        "all": browser.get("/ui/insight?days=7"),
        "webhooks": browser.get(f"/ui/deployments/{dep['id']}/webhooks"),
        "history": browser.get(f"/ui/deployments/{dep['id']}/history"),
    }
    for name, response in pages.items():
        assert response.status_code == 200, (name, response.text)
        assert_inert(response.text, name)
    compare = pages["compare"].text
    assert "https://github.com/acme/x/commit/abcdef1" in compare
    assert "&lt;script&gt;" in compare  # the diff line, escaped by Pygments
    assert ESCAPED_IMG in pages["webhooks"].text
    assert f"feature/{ESCAPED_IMG}" in pages["history"].text


def test_bad_compare_and_period_inputs_are_clear_errors(api: Api) -> None:
    dep = api.new_deployment()
    new_login(api, "root", system_role="SYSTEM_ADMIN")
    browser = signed_in(api, "root")
    assert browser.get(f"/ui/deployments/{dep['id']}/compare?a=1&b=2").status_code == 404
    assert browser.get(f"/ui/deployments/{dep['id']}/insight?days=0").status_code == 400
