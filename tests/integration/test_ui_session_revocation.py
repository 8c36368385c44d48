"""UI sessions live on the server: a copy of the cookie stops working the moment the
session is ended by sign-out, a password change, a token revocation or an admin."""

from __future__ import annotations

from tests.integration.test_ui_support import Browser, new_login, signed_in
from tests.support.server import Api

PAGE = "/ui/deployments"


def _stolen_copy(api: Api, browser: Browser) -> Browser:
    """Another client holding the same cookie, as a thief who copied it would."""
    thief = Browser(api)
    thief.client.cookies.set("tarmac_session", browser.client.cookies["tarmac_session"], path="/ui")
    assert thief.get(PAGE).status_code == 200
    return thief


def _signed_out(browser: Browser) -> bool:
    response = browser.get(PAGE)
    return response.status_code == 303 and response.headers["location"].startswith("/ui/login")


def test_sign_out_ends_every_copy_of_the_cookie(api: Api) -> None:
    new_login(api, "ada")
    browser = signed_in(api, "ada")
    thief = _stolen_copy(api, browser)
    assert browser.post("/ui/logout", {"csrf_token": browser.csrf()}).status_code == 303
    assert _signed_out(thief)


def test_a_password_change_ends_every_session_of_the_user(api: Api) -> None:
    ada = new_login(api, "ada")
    new_login(api, "bob")
    laptop, phone, bob = signed_in(api, "ada"), signed_in(api, "ada"), signed_in(api, "bob")
    changed = api.ok(
        api.put(f"/api/v1/users/{ada}/password", json={"password": "a new long password"})
    )
    assert changed == {"user_id": ada, "ended_ui_sessions": 2}
    assert _signed_out(laptop) and _signed_out(phone)
    assert bob.get(PAGE).status_code == 200
    assert Browser(api).login("ada", "a new long password").status_code == 303
    assert Browser(api).login("ada").status_code == 401  # the old password is gone


def test_revoking_a_token_of_the_user_ends_their_sessions(api: Api) -> None:
    ada = new_login(api, "ada")
    token = api.ok(api.post(f"/api/v1/users/{ada}/tokens", json={"name": "ci"}), 201)
    browser = signed_in(api, "ada")
    api.ok(api.request("DELETE", f"/api/v1/users/{ada}/tokens/{token['id']}"))
    assert _signed_out(browser)


def test_an_admin_ends_a_users_sessions_at_once(api: Api) -> None:
    ada = new_login(api, "ada")
    browser = signed_in(api, "ada")
    ended = api.ok(api.request("DELETE", f"/api/v1/users/{ada}/ui-sessions"))
    assert ended == {"user_id": ada, "ended_ui_sessions": 1}
    assert _signed_out(browser)


def test_only_the_user_or_an_admin_may_end_sessions_or_set_a_password(api: Api) -> None:
    ada = new_login(api, "ada")
    browser = signed_in(api, "ada")
    _, editor = api.new_user("eve", "SYSTEM_EDITOR")
    refused = editor.request("DELETE", f"/api/v1/users/{ada}/ui-sessions")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    refused = editor.put(f"/api/v1/users/{ada}/password", json={"password": "eve's password"})
    assert refused.status_code == 403
    assert browser.get(PAGE).status_code == 200
    assert signed_in(api, "ada").get(PAGE).status_code == 200  # the password is unchanged


def test_ending_another_users_sessions_leaves_mine(api: Api) -> None:
    new_login(api, "ada")
    browser = signed_in(api, "ada")
    api.ok(api.request("DELETE", f"/api/v1/users/{new_login(api, 'bob')}/ui-sessions"))
    assert browser.get(PAGE).status_code == 200
