"""Signing in and out of the web UI, and the session cookie's properties."""

from __future__ import annotations

from tests.integration.test_ui_support import Browser, csrf_of, new_login, signed_in
from tests.support.server import Api


def test_pages_need_a_signed_in_user(api: Api) -> None:
    response = Browser(api).get("/ui/deployments")
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login?next=/ui/deployments"


def test_login_sets_a_signed_http_only_same_site_cookie(api: Api) -> None:
    new_login(api, "ada", system_role="SYSTEM_VIEWER")
    browser = Browser(api)
    response = browser.login("ada")
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/deployments"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("tarmac_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/ui" in cookie
    assert "Secure" not in cookie  # served over plain http
    page = browser.get("/ui/deployments")
    assert page.status_code == 200
    assert "Signed in as </span><strong>ada</strong>" in page.text


def test_cookie_is_secure_over_https(api: Api) -> None:
    new_login(api, "ada")
    response = Browser(api, https=True).login("ada")
    assert response.status_code == 303
    assert "Secure" in response.headers["set-cookie"]


def test_wrong_password_is_refused_without_saying_which_part(api: Api) -> None:
    new_login(api, "ada")
    browser = Browser(api)
    for username, password in (("ada", "not the password"), ("nobody", "whatever")):
        response = browser.login(username, password)
        assert response.status_code == 401
        assert "Wrong username or password." in response.text
    assert browser.get("/ui/deployments").status_code == 303


def test_login_form_needs_its_csrf_token(api: Api) -> None:
    new_login(api, "ada")
    browser = Browser(api)
    browser.get("/ui/login")
    response = browser.post("/ui/login", {"username": "ada", "password": "correct horse battery"})
    assert response.status_code == 403
    assert browser.get("/ui/deployments").status_code == 303


def test_login_gives_a_new_csrf_token(api: Api) -> None:
    new_login(api, "ada")
    browser = Browser(api)
    before = csrf_of(browser.get("/ui/login").text)
    browser.login("ada")
    assert browser.csrf() != before


def test_next_only_redirects_inside_the_ui(api: Api) -> None:
    new_login(api, "ada")
    browser = Browser(api)
    token = csrf_of(browser.get("/ui/login").text)
    for target, expected in (
        ("https://evil.example/", "/ui/deployments"),
        ("//evil.example/ui/", "/ui/deployments"),
        ("/ui/deployments/x/history", "/ui/deployments/x/history"),
    ):
        response = browser.post(
            "/ui/login",
            {
                "csrf_token": token,
                "username": "ada",
                "password": "correct horse battery",
                "next": target,
            },
        )
        assert response.headers["location"] == expected
        token = browser.csrf()


def test_logout_ends_the_session(api: Api) -> None:
    new_login(api, "ada")
    browser = signed_in(api, "ada")
    response = browser.post("/ui/logout", {"csrf_token": browser.csrf()})
    assert response.status_code == 303
    assert browser.get("/ui/deployments").status_code == 303


def test_logout_needs_the_csrf_token(api: Api) -> None:
    new_login(api, "ada")
    browser = signed_in(api, "ada")
    assert browser.post("/ui/logout", {}).status_code == 403
    assert browser.get("/ui/deployments").status_code == 200


def test_a_tampered_cookie_is_not_a_session(api: Api) -> None:
    user_id = new_login(api, "ada")
    new_login(api, "eve")
    browser = signed_in(api, "eve")
    value = browser.client.cookies["tarmac_session"]
    payload, signature = value.split(".")
    import base64
    import json

    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["u"] = user_id  # claim to be ada, keeping eve's signature
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    browser.client.cookies.set("tarmac_session", f"{forged}.{signature}", path="/ui")
    assert browser.get("/ui/deployments").status_code == 303


def test_pages_carry_security_headers(api: Api) -> None:
    page = Browser(api).get("/ui/login")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"


def test_repeated_wrong_passwords_are_slowed_down(api: Api) -> None:
    new_login(api, "guessme")
    browser = Browser(api)
    page = browser.get("/ui/login")
    token = csrf_of(page.text)
    statuses = [
        browser.post(
            "/ui/login", {"csrf_token": token, "username": "guessme", "password": f"wrong-{i}"}
        ).status_code
        for i in range(7)
    ]
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429, 429]
    refused = browser.post(
        "/ui/login",
        {"csrf_token": token, "username": "guessme", "password": "right-password-not-even-checked"},
    )
    assert refused.status_code == 429
    assert "Too many failed sign-ins" in refused.text
