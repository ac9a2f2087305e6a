"""`next=`: one check (hub/web/redirects.py) for every redirect target a request names,
run before anything changes, so a bad target neither redirects off the hub nor fails
after a session was started."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from hub.extensions import db
from hub.models import User, UserSession
from hub.web.redirects import local_target

BAD_TARGETS = [
    "/cases\r\nSet-Cookie: hub_session=planted",
    "/cases\nX-Injected: 1",
    "/cases\rX",
    "/cases\t",
    "/cases\x1b[2J",
    "/cases\x7f",
    "/cases\x85",
    "//evil.example/",
    "/\\evil.example/",
    "https://evil.example/",
    "javascript:alert(1)",
    "cases",
]


@pytest.mark.parametrize("target", BAD_TARGETS)
def test_only_plain_local_paths_are_targets(target):
    assert local_target(target) is None


def test_local_paths_stay_targets():
    for target in ("/", "/cases?page=2", "/exchanges/12#reply", "/cases?q=Quảng%20Bình"):
        assert local_target(target) == target


def _sessions(username: str) -> int:
    user = db.session.scalar(select(User).where(User.username == username))
    return db.session.scalar(
        select(func.count(UserSession.id)).where(UserSession.user_id == user.id)
    )


@pytest.mark.parametrize("target", [*BAD_TARGETS[:3], "//evil.example/", "/\\evil.example/"])
def test_login_with_a_bad_next_goes_home(client, browser, demo_users, target):
    response = client.post(
        "/login",
        data={
            "username": "qb.officer",
            "password": "correct horse battery",
            "next": target,
            "csrf_token": browser.csrf(),
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert "X-Injected" not in response.headers
    assert _sessions("qb.officer") == 1
    assert client.get("/").status_code == 200


def test_login_page_drops_a_bad_next_from_the_query(client, demo_users):
    html = client.get("/login", query_string={"next": "/cases\r\nX: 1"}).get_data(as_text=True)
    assert 'name="next" type="hidden" value=""' in html


def test_second_factor_step_with_a_bad_next_goes_home(client, browser, demo_users):
    from tests.auth.test_totp import code, enrol

    secret = enrol("qb.officer")
    response = client.post(
        "/login",
        data={
            "username": "qb.officer",
            "password": "correct horse battery",
            "next": "/cases\r\nX-Injected: 1",
            "csrf_token": browser.csrf(),
        },
    )
    assert response.status_code == 302
    assert "X-Injected" not in response.headers["Location"]
    assert "next=" not in response.headers["Location"]
    response = client.post(
        "/login/code",
        data={
            "code": code(secret),
            "next": "/cases\r\nX-Injected: 1",
            "csrf_token": browser.csrf("/login/code"),
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.get("/").status_code == 200


def test_language_switch_with_a_bad_next_goes_home(client, browser, demo_users):
    browser.login("qb.officer")
    response = client.post(
        "/language",
        data={"language": "lo", "next": "/cases\r\nX-Injected: 1", "csrf_token": browser.csrf("/")},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    db.session.expire_all()
    assert db.session.scalar(select(User).where(User.username == "qb.officer")).language == "lo"
