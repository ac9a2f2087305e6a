"""Server-side sessions: time-outs, logging out (here and everywhere), disabling, rotation,
and CSRF on the session forms."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from hub.auth.tokens import token_digest
from hub.extensions import db
from hub.models import UserSession
from hub.models.base import utcnow
from hub.operations import accounts
from hub.operations.actor import SYSTEM

PASSWORD = "correct horse battery"


def as_browser(client):
    """A Browser for one of several clients in a test.

    The test holds the app context open, so every request shares one `g`, where
    Flask-WTF caches the CSRF token: forget it so each client gets its own.
    """
    from flask import g

    from tests.conftest import Browser

    class Own(Browser):
        def csrf(self, path: str = "/login") -> str:
            g.pop("csrf_token", None)
            return super().csrf(path)

    return Own(client)


def cookie(client) -> str | None:
    found = client.get_cookie("hub_session")
    return found.value if found else None


def row_of(client) -> UserSession:
    db.session.expire_all()
    return db.session.scalar(
        select(UserSession).where(UserSession.token_hash == token_digest(cookie(client)))
    )


def age(client, *, created: timedelta = timedelta(0), idle: timedelta = timedelta(0)) -> None:
    """Move the session's clock back instead of sleeping."""
    row = row_of(client)
    now = utcnow()
    row.created_at = now - created
    row.last_seen_at = now - idle
    db.session.commit()


def test_idle_time_out_ends_the_session(app, client, browser, demo_users):
    limit = timedelta(minutes=app.config["HUB"].session_idle_minutes)
    as_browser(client).login("qb.officer")
    age(client, idle=limit - timedelta(minutes=1))
    assert client.get("/").status_code == 200
    age(client, idle=limit + timedelta(minutes=1))
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert row_of(client).revoked_at is not None
    # Once ended it stays ended, even if the clock were put right again.
    age(client)
    assert client.get("/").status_code == 302


def test_absolute_time_out_ends_a_busy_session(app, client, browser, demo_users):
    limit = timedelta(hours=app.config["HUB"].session_absolute_hours)
    as_browser(client).login("qb.officer")
    age(client, created=limit - timedelta(minutes=1))
    assert client.get("/").status_code == 200
    age(client, created=limit + timedelta(minutes=1))  # last seen just now, but too old
    assert client.get("/").status_code == 302


def test_activity_keeps_the_idle_clock_fresh(app, client, browser, demo_users):
    as_browser(client).login("qb.officer")
    age(client, idle=timedelta(minutes=5))
    client.get("/")
    assert utcnow() - row_of(client).last_seen_at < timedelta(minutes=1)


def test_logout_ends_this_session_only(app, browser, demo_users):
    first, second = app.test_client(), app.test_client()
    as_browser(first).login("km.officer")
    as_browser(second).login("km.officer")
    old = cookie(first)
    first.post("/logout", data={"csrf_token": as_browser(first).csrf("/")})
    assert first.get("/").status_code == 302
    assert second.get("/").status_code == 200
    # The old cookie value, replayed, is dead.
    first.set_cookie("hub_session", old)
    assert first.get("/").status_code == 302


def test_log_out_everywhere_ends_every_session_of_the_user(app, demo_users):
    phone, desk, colleague = app.test_client(), app.test_client(), app.test_client()
    as_browser(phone).login("km.officer")
    as_browser(desk).login("km.officer")
    as_browser(colleague).login("km.supervisor")
    response = desk.post(
        "/account/logout-everywhere", data={"csrf_token": as_browser(desk).csrf("/account")}
    )
    assert response.status_code == 302
    assert phone.get("/").status_code == 302
    assert desk.get("/").status_code == 302
    assert colleague.get("/").status_code == 200
    assert (
        db.session.scalars(
            select(UserSession).where(
                UserSession.user_id == demo_users["km.officer"].id, UserSession.revoked_at.is_(None)
            )
        ).all()
        == []
    )


def test_disabling_ends_every_session_and_token_at_the_next_request(
    app, client, browser, demo_users, api_token
):
    other = app.test_client()
    as_browser(client).login("sv.officer")
    as_browser(other).login("sv.officer")
    headers = api_token("sv.officer")
    assert client.get("/api/v1/agreements", headers=headers).status_code == 200
    accounts.disable_user(SYSTEM, "sv.officer")
    assert client.get("/").status_code == 302
    assert other.get("/").status_code == 302
    assert client.get("/api/v1/agreements", headers=headers).status_code == 401
    # And no new session starts.
    client.delete_cookie("hub_session")
    assert as_browser(client).login("sv.officer").status_code == 401


def test_changing_own_password_ends_the_other_sessions_only(app, client, demo_users):
    other = app.test_client()
    as_browser(client).login("qb.supervisor")
    as_browser(other).login("qb.supervisor")
    token = as_browser(client).csrf("/account")
    new = "a fresh passphrase for me"
    for wrong in (
        {"current": "not my password", "password": new, "confirm": new},
        {"current": PASSWORD, "password": new, "confirm": new + "!"},
        {"current": PASSWORD, "password": "short", "confirm": "short"},
    ):
        client.post("/account/password", data={**wrong, "csrf_token": token})
        assert other.get("/").status_code == 200  # refused: nothing changed
    client.post(
        "/account/password",
        data={"current": PASSWORD, "password": new, "confirm": new, "csrf_token": token},
    )
    assert client.get("/").status_code == 200
    assert other.get("/").status_code == 302
    other.delete_cookie("hub_session")
    assert as_browser(other).login("qb.supervisor", PASSWORD).status_code == 401
    assert as_browser(other).login("qb.supervisor", new).status_code == 302


def test_session_id_is_rotated_at_login(client, browser, demo_users):
    planted = "attacker-chosen-value-0123456789"
    client.set_cookie("hub_session", planted)
    as_browser(client).login("qb.officer")
    assert cookie(client) not in (None, planted)
    assert client.get("/").status_code == 200

    # Logging in again from a browser that holds a live session replaces it.
    first = cookie(client)
    as_browser(client).login("qb.officer")
    second = cookie(client)
    assert second != first
    client.set_cookie("hub_session", first)
    assert client.get("/").status_code == 302


def test_session_cookie_is_http_only_and_same_site(client, browser, demo_users):
    response = as_browser(client).login("qb.officer")
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("hub_session="))
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert len(cookie(client)) >= 40  # 256 random bits, URL-safe


def test_forms_without_csrf_token_are_refused(client, browser, demo_users):
    as_browser(client).login("qb.officer")
    for path, data in [
        ("/logout", {}),
        ("/account/logout-everywhere", {}),
        ("/language", {"language": "lo"}),
        ("/account/totp/remove", {"code": "123456"}),
        ("/account/password", {"current": PASSWORD, "password": "x" * 20, "confirm": "x" * 20}),
    ]:
        response = client.post(path, data=data)
        assert response.status_code == 400, path
    # None of them took effect.
    assert client.get("/").status_code == 200
    assert (
        db.session.get(type(demo_users["qb.officer"]), demo_users["qb.officer"].id).language == "vi"
    )
    # A token from another session does not do either.
    stranger = client.application.test_client()
    foreign = as_browser(stranger).csrf("/login")
    assert client.post("/logout", data={"csrf_token": foreign}).status_code == 400
    assert client.get("/").status_code == 200
