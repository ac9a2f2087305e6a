"""Every secret a user types goes through one counter and one lockout
(hub/operations/attempts.py): the code at the second factor's removal and replacement
and the current password at a password change get no more guesses than the login."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import select

from hub.auth.passwords import verify_password
from hub.extensions import db
from hub.models import AuditEntry, LoginThrottle, User
from hub.operations import accounts
from hub.operations.accounts import LoginFailed
from tests.auth.test_totp import code, enrol, steady

PASSWORD = "correct horse battery"
LOCK_MESSAGE = "Too many wrong attempts: wait %(minutes)d min before trying again."


def _user(username: str) -> User:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.username == username))


def _wrong(secret: str) -> str:
    return str((int(code(secret)) + 500_000) % 1_000_000).zfill(6)


def _signed_in_with_code(client, browser, username: str) -> str:
    """Enrol `username`, sign in through both steps; the TOTP secret."""
    secret = enrol(username)
    browser.login(username)
    response = client.post(
        "/login/code", data={"code": code(secret), "csrf_token": browser.csrf("/login/code")}
    )
    assert response.status_code == 302
    return secret


def _flashes(client) -> list[str]:
    html = client.get("/account").get_data(as_text=True)
    return re.findall(r'<p class="flash error"[^>]*>([^<]*)</p>', html)


def _lock_text(lang: str, minutes: int) -> str:
    with force_locale(lang):
        return gettext(LOCK_MESSAGE, minutes=minutes)


def test_wrong_codes_at_removal_lock_and_the_right_code_is_then_refused(
    app, client, browser, demo_users
):
    limit = app.config["HUB"].login_max_failures
    minutes = app.config["HUB"].login_lockout_minutes
    secret = _signed_in_with_code(client, browser, "sv.officer")  # reads Lao
    token = browser.csrf("/account")
    for attempt in range(limit + 1):  # one past the limit: already locked
        client.post("/account/totp/remove", data={"code": _wrong(secret), "csrf_token": token})
        flashed = _flashes(client)
        if attempt < limit - 1:
            assert flashed, attempt
            assert _lock_text("lo", minutes) not in flashed, attempt
    assert _lock_text("lo", minutes) in flashed
    assert re.search("[\u0e80-\u0eff]", _lock_text("lo", minutes))  # said in Lao

    steady()
    client.post("/account/totp/remove", data={"code": code(secret, 1), "csrf_token": token})
    assert _lock_text("lo", minutes) in _flashes(client)
    assert _user("sv.officer").totp_enrolled  # still on: the right code did not count
    # The same lock holds the login.
    client.delete_cookie("hub_session")
    assert browser.login("sv.officer").status_code == 401

    failed = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "totp_failed").order_by(AuditEntry.id)
    ).all()
    assert len(failed) >= limit + 2


def test_wrong_current_codes_at_replacement_lock(app, client, browser, demo_users):
    limit = app.config["HUB"].login_max_failures
    old = _signed_in_with_code(client, browser, "qb.officer")
    before = _user("qb.officer").totp_secret_sealed
    statuses = []
    for _ in range(limit + 1):
        html = client.get("/account/totp").get_data(as_text=True)
        new = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")
        candidate = re.search(r'name="candidate" type="hidden" value="([0-9a-f]+)"', html)
        form = {
            "code": code(new),
            "candidate": candidate.group(1),
            "current": _wrong(old),
            "csrf_token": browser.csrf("/account/totp"),
        }
        statuses.append(client.post("/account/totp", data=form).status_code)
    assert statuses == [422] * (limit - 1) + [429, 429]
    steady()
    form["current"] = code(old, 1)
    response = client.post("/account/totp", data=form)
    assert response.status_code == 429
    assert _lock_text("vi", app.config["HUB"].login_lockout_minutes) in response.get_data(
        as_text=True
    )
    assert _user("qb.officer").totp_secret_sealed == before


def test_wrong_current_passwords_lock_the_password_change(app, client, browser, demo_users):
    limit = app.config["HUB"].login_max_failures
    minutes = app.config["HUB"].login_lockout_minutes
    browser.login("km.officer")
    token = browser.csrf("/account")
    new = "a new long password 2026"

    def change(current: str):
        return client.post(
            "/account/password",
            data={"current": current, "password": new, "confirm": new, "csrf_token": token},
        )

    for _ in range(limit):
        change("not the password at all")
    assert _lock_text("lo", minutes) in _flashes(client)
    change(PASSWORD)  # right, but locked
    assert _lock_text("lo", minutes) in _flashes(client)
    assert verify_password(_user("km.officer").password_hash, PASSWORD)
    assert "password_refused" in db.session.scalars(select(AuditEntry.action)).all()
    client.delete_cookie("hub_session")
    assert browser.login("km.officer").status_code == 401  # one lock for the account


def test_one_counter_across_login_and_signed_in_checks(app, client, browser, demo_users):
    settings = app.config["HUB"]
    browser.login("qb.supervisor")
    token = browser.csrf("/account")
    for _ in range(settings.login_max_failures - 1):  # guesses at the login form
        with pytest.raises(LoginFailed):
            accounts.authenticate(
                "QB.Supervisor",
                "guess",
                max_failures=settings.login_max_failures,
                lockout=timedelta(minutes=settings.login_lockout_minutes),
            )
    new = "a new long password 2026"
    client.post(
        "/account/password",
        data={"current": "wrong again", "password": new, "confirm": new, "csrf_token": token},
    )
    assert _lock_text("vi", settings.login_lockout_minutes) in _flashes(client)


def test_a_right_secret_ends_the_run_of_failures(app, client, browser, demo_users):
    limit = app.config["HUB"].login_max_failures
    browser.login("qb.officer")
    token = browser.csrf("/account")
    new = "a new long password 2026"
    for _ in range(limit - 1):
        client.post(
            "/account/password",
            data={"current": "wrong", "password": new, "confirm": new, "csrf_token": token},
        )
    response = client.post(
        "/account/password",
        data={"current": PASSWORD, "password": new, "confirm": new, "csrf_token": token},
    )
    assert response.status_code == 302
    assert verify_password(_user("qb.officer").password_hash, new)
    assert db.session.get(LoginThrottle, "qb.officer").failures == 0
