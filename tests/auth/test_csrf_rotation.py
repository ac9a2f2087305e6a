"""The CSRF secret lives and dies with the server-side session: a token from before the
login, or from before the logout, is refused afterwards."""

from __future__ import annotations

from flask import g

from tests.auth.test_sessions import PASSWORD, as_browser


def _fresh(browser, path: str) -> str:
    g.pop("csrf_token", None)
    return browser.csrf(path)


def test_a_token_from_before_the_login_is_refused_after_it(client, demo_users):
    browser = as_browser(client)
    before = _fresh(browser, "/login")
    response = client.post(
        "/login", data={"username": "qb.officer", "password": PASSWORD, "csrf_token": before}
    )
    assert response.status_code == 302
    g.pop("csrf_token", None)
    stale = client.post("/language", data={"language": "lo", "next": "/", "csrf_token": before})
    assert stale.status_code == 400
    after = _fresh(browser, "/account")
    assert after != before
    assert client.post("/logout", data={"csrf_token": after}).status_code == 302


def test_a_token_from_before_the_logout_is_refused_after_it(client, demo_users):
    browser = as_browser(client)
    browser.login("qb.officer")
    during = _fresh(browser, "/account")
    assert client.post("/logout", data={"csrf_token": during}).status_code == 302
    g.pop("csrf_token", None)
    stale = client.post(
        "/login", data={"username": "qb.officer", "password": PASSWORD, "csrf_token": during}
    )
    assert stale.status_code == 400
    assert client.get("/").status_code == 302  # nobody signed in


def test_log_out_everywhere_rotates_it_too(client, demo_users):
    browser = as_browser(client)
    browser.login("km.officer")
    during = _fresh(browser, "/account")
    response = client.post("/account/logout-everywhere", data={"csrf_token": during})
    assert response.status_code == 302
    g.pop("csrf_token", None)
    stale = client.post(
        "/login", data={"username": "km.officer", "password": PASSWORD, "csrf_token": during}
    )
    assert stale.status_code == 400
