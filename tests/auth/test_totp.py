"""The TOTP second factor: codes, sealing, enrolment, the two-step login, replay, policy."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time

import pytest
from sqlalchemy import select

from hub.auth import totp
from hub.extensions import db
from hub.models import AuditEntry, User, UserSession
from hub.operations import accounts
from hub.operations.actor import SYSTEM, Actor

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def steady() -> None:
    """Wait out the last seconds of a time step, so a test's codes stay in one step."""
    left = totp.INTERVAL - time.time() % totp.INTERVAL
    if left < 3:
        time.sleep(left + 0.1)


def code(secret: str, offset: int = 0) -> str:
    return totp.code_at(secret, totp.current_step() + offset)


def enrol(username: str) -> str:
    """Enrol through the operation, confirming with the previous step's code; the secret."""
    steady()
    user = db.session.scalar(select(User).where(User.username == username))
    offer = accounts.begin_enrolment(user)
    accounts.confirm_enrolment(user, offer.candidate, code(offer.secret, -1))
    return offer.secret


def cookie(client) -> str | None:
    found = client.get_cookie("hub_session")
    return found.value if found else None


# --- codes and sealing --------------------------------------------------------------------


def test_codes_match_within_one_step_either_side():
    now = 1_700_000_000.0
    step = totp.current_step(now)
    for offset in (-1, 0, 1):
        assert totp.matching_step(SECRET, totp.code_at(SECRET, step + offset), now=now) == (
            step + offset
        )
    for offset in (-3, -2, 2, 3):
        assert totp.matching_step(SECRET, totp.code_at(SECRET, step + offset), now=now) is None
    spaced = totp.code_at(SECRET, step)
    assert totp.matching_step(SECRET, f"{spaced[:3]} {spaced[3:]}", now=now) == step
    for bad in ("", "12345", "1234567", "abcdef", "12 34 5x"):
        assert totp.matching_step(SECRET, bad, now=now) is None


def test_codes_agree_with_rfc_6238_vector():
    # RFC 6238 appendix B, SHA-1 key "12345678901234567890", T=59 -> 94287082 (8 digits).
    import base64

    import pyotp

    key = base64.b32encode(b"12345678901234567890").decode()
    assert pyotp.TOTP(key, digits=8).at(59) == "94287082"
    assert totp.code_at(key, 1) == "287082"  # our 6 digits: the same HOTP value, truncated


def test_sealed_secret_opens_only_for_its_user_and_key(tmp_path):
    key_file = tmp_path / "k" / "totp_key"
    sealed = totp.seal_secret(key_file, SECRET, 7)
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert SECRET.encode() not in sealed
    assert totp.open_secret(key_file, sealed, 7) == SECRET
    with pytest.raises(totp.SealError):
        totp.open_secret(key_file, sealed, 8)  # moved to another user's row
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(totp.SealError):
        totp.open_secret(key_file, tampered, 7)
    other = tmp_path / "other_key"
    other.write_bytes(os.urandom(32))
    with pytest.raises(totp.SealError):
        totp.open_secret(other, sealed, 7)


def test_enrolment_offer_expires_and_is_bound_to_its_user(tmp_path):
    key_file = tmp_path / "totp_key"
    now = time.time()
    offer = totp.seal_candidate(key_file, SECRET, 3, now=now)
    assert totp.open_candidate(key_file, offer, 3, now=now + 60) == SECRET
    with pytest.raises(totp.SealError):
        totp.open_candidate(key_file, offer, 3, now=now + totp.ENROLMENT_SECONDS + 1)
    with pytest.raises(totp.SealError):
        totp.open_candidate(key_file, offer, 4, now=now)
    with pytest.raises(totp.SealError):
        totp.open_candidate(key_file, "zz" + offer, 3, now=now)


# --- enrolment through the page ---------------------------------------------------------


def test_enrolment_from_own_settings_page(client, browser, demo_users):
    browser.login("km.officer")
    page = client.get("/account/totp")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")
    assert "otpauth://totp/" in html
    assert "<svg" in html  # the QR code, drawn on the server
    assert "<script" not in html
    candidate = re.search(r'name="candidate" type="hidden" value="([0-9a-f]+)"', html).group(1)
    token = browser.csrf("/account")

    # A wrong code: nothing is stored, and the same key is offered again.
    steady()
    wrong = str((int(code(secret)) + 1) % 1_000_000).zfill(6)
    response = client.post(
        "/account/totp", data={"code": wrong, "candidate": candidate, "csrf_token": token}
    )
    assert response.status_code == 422
    assert secret[:4] in response.get_data(as_text=True)
    db.session.expire_all()
    assert not db.session.scalar(select(User).where(User.username == "km.officer")).totp_enrolled

    response = client.post(
        "/account/totp", data={"code": code(secret), "candidate": candidate, "csrf_token": token}
    )
    assert response.status_code == 302
    db.session.expire_all()
    user = db.session.scalar(select(User).where(User.username == "km.officer"))
    assert user.totp_enrolled
    assert secret.encode() not in user.totp_secret_sealed
    assert user.totp_last_step == totp.current_step()
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "totp_enrolled"))


def test_forged_enrolment_offer_is_refused(client, browser, demo_users):
    browser.login("km.officer")
    token = browser.csrf("/account")
    forged = totp.seal_candidate(_other_key(client), SECRET, demo_users["km.officer"].id)
    response = client.post(
        "/account/totp", data={"code": code(SECRET), "candidate": forged, "csrf_token": token}
    )
    assert response.status_code == 422
    db.session.expire_all()
    assert not db.session.scalar(select(User).where(User.username == "km.officer")).totp_enrolled


def _other_key(client):
    path = client.application.config["HUB"].instance_path / "not_the_key"
    path.write_bytes(os.urandom(32))
    return path


# --- the two-step login -----------------------------------------------------------------


def test_login_asks_for_the_code_and_rotates_the_session(client, browser, demo_users):
    secret = enrol("qb.officer")
    response = browser.login("qb.officer")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login/code")
    pending = cookie(client)
    # Past the password but not the code: nothing is reachable yet.
    assert client.get("/").status_code == 302
    assert client.get("/account").status_code == 302
    assert client.get("/login").headers["Location"].endswith("/login/code")

    response = client.post(
        "/login/code", data={"code": code(secret), "csrf_token": browser.csrf("/login/code")}
    )
    assert response.status_code == 302
    assert cookie(client) != pending
    assert client.get("/").status_code == 200
    row = db.session.scalar(select(UserSession).where(UserSession.token_hash == _digest(pending)))
    assert row.revoked_at is not None


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html).group(1)


def _digest(token: str) -> str:
    from hub.auth.tokens import token_digest

    return token_digest(token)


def test_a_used_code_is_refused_on_replay(client, browser, demo_users):
    secret = enrol("qb.officer")
    used = code(secret)
    browser.login("qb.officer")
    assert (
        client.post(
            "/login/code", data={"code": used, "csrf_token": browser.csrf("/login/code")}
        ).status_code
        == 302
    )
    client.delete_cookie("hub_session")

    browser.login("qb.officer")
    response = client.post(
        "/login/code", data={"code": used, "csrf_token": browser.csrf("/login/code")}
    )
    assert response.status_code == 401
    assert client.get("/").status_code == 302
    # The code enrolment confirmed with is spent too.
    response = client.post(
        "/login/code", data={"code": code(secret, -1), "csrf_token": browser.csrf("/login/code")}
    )
    assert response.status_code == 401
    # The next step's code is fresh.
    response = client.post(
        "/login/code", data={"code": code(secret, 1), "csrf_token": browser.csrf("/login/code")}
    )
    assert response.status_code == 302
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "totp_failed").order_by(AuditEntry.id)
    ).first()
    assert json.loads(entry.leaf_input)["details"]["replay"] is True


def test_wrong_codes_lock_the_account_and_end_the_pending_session(client, browser, app, demo_users):
    secret = enrol("qb.officer")
    browser.login("qb.officer")
    token = browser.csrf("/login/code")
    wrong = str((int(code(secret)) + 500_000) % 1_000_000).zfill(6)
    limit = app.config["HUB"].login_max_failures
    for _ in range(limit - 1):
        assert (
            client.post("/login/code", data={"code": wrong, "csrf_token": token}).status_code == 401
        )
    response = client.post("/login/code", data={"code": wrong, "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login")
    # Locked: the password alone no longer starts anything, right code or not.
    assert browser.login("qb.officer").status_code == 401


def test_cancel_ends_the_pending_session(client, browser, demo_users):
    enrol("qb.officer")
    browser.login("qb.officer")
    pending = cookie(client)
    client.post("/login/cancel", data={"csrf_token": browser.csrf("/login/code")})
    row = db.session.scalar(select(UserSession).where(UserSession.token_hash == _digest(pending)))
    db.session.refresh(row)
    assert row.revoked_at is not None


def test_secret_copied_to_another_user_does_not_work(client, browser, demo_users):
    secret = enrol("qb.officer")
    enrol("km.officer")
    qb = db.session.scalar(select(User).where(User.username == "qb.officer"))
    km = db.session.scalar(select(User).where(User.username == "km.officer"))
    km.totp_secret_sealed = qb.totp_secret_sealed
    km.totp_last_step = None
    db.session.commit()
    browser.login("km.officer")
    response = client.post(
        "/login/code", data={"code": code(secret, 1), "csrf_token": browser.csrf("/login/code")}
    )
    assert response.status_code == 401


# --- required by role ----------------------------------------------------------------------


def test_policy_defaults_by_environment(app):
    assert accounts.totp_required_roles() == set()
    development = app.config["HUB"]
    app.config["HUB"] = dataclasses.replace(development, env="production")
    try:
        assert accounts.totp_required_roles() == {"officer", "supervisor", "admin"}
        accounts.set_totp_required_roles(SYSTEM, [])
        assert accounts.totp_required_roles() == set()
    finally:
        app.config["HUB"] = development


def test_required_role_must_enrol_before_anything_else(client, browser, demo_users):
    admin = Actor.for_user(demo_users["admin"])
    accounts.set_totp_required_roles(admin, ["officer"])
    response = browser.login("qb.officer")
    assert response.headers["Location"].endswith("/account/totp")
    for path in ("/", "/account", "/admin/users"):
        assert client.get(path).status_code in (302, 403), path
    html = client.get("/account/totp").get_data(as_text=True)
    assert 'action="/login/cancel"' in html  # the forced form of the page
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")
    candidate = re.search(r'name="candidate" type="hidden" value="([0-9a-f]+)"', html).group(1)
    pending = cookie(client)
    steady()
    response = client.post(
        "/account/totp",
        data={"code": code(secret), "candidate": candidate, "csrf_token": _csrf(html)},
    )
    assert response.status_code == 302
    assert cookie(client) != pending
    assert client.get("/").status_code == 200
    # Supervisors are not in the policy: straight in.
    client.delete_cookie("hub_session")
    assert browser.login("qb.supervisor").headers["Location"] == "/"


def test_requirement_set_during_a_session_applies_at_the_next_request(client, browser, demo_users):
    browser.login("sv.officer")
    assert client.get("/").status_code == 200
    accounts.set_totp_required_roles(SYSTEM, ["officer"])
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/account/totp")
    assert client.get("/account/totp").status_code == 200


def test_own_second_factor_can_be_turned_off_only_when_not_required(client, browser, demo_users):
    secret = enrol("sv.officer")
    browser.login("sv.officer")
    client.post(
        "/login/code", data={"code": code(secret), "csrf_token": browser.csrf("/login/code")}
    )
    token = browser.csrf("/account")
    accounts.set_totp_required_roles(SYSTEM, ["officer"])
    assert (
        client.post(
            "/account/totp/remove", data={"code": code(secret, 1), "csrf_token": token}
        ).status_code
        == 403
    )
    accounts.set_totp_required_roles(SYSTEM, [])
    client.post("/account/totp/remove", data={"code": "000000", "csrf_token": token})
    db.session.expire_all()
    assert db.session.scalar(select(User).where(User.username == "sv.officer")).totp_enrolled
    client.post("/account/totp/remove", data={"code": code(secret, 1), "csrf_token": token})
    db.session.expire_all()
    assert not db.session.scalar(select(User).where(User.username == "sv.officer")).totp_enrolled


def test_admin_reset_clears_the_factor_and_ends_sessions(client, browser, demo_users):
    secret = enrol("km.supervisor")
    browser.login("km.supervisor")
    client.post(
        "/login/code", data={"code": code(secret), "csrf_token": browser.csrf("/login/code")}
    )
    assert client.get("/").status_code == 200
    accounts.reset_totp(Actor.for_user(demo_users["admin"]), "km.supervisor")
    assert client.get("/").status_code == 302
    assert browser.login("km.supervisor").headers["Location"] == "/"


def test_replacing_a_factor_needs_a_code_from_the_old_one(client, browser, demo_users):
    old = enrol("qb.officer")
    browser.login("qb.officer")
    client.post("/login/code", data={"code": code(old), "csrf_token": browser.csrf("/login/code")})
    html = client.get("/account/totp").get_data(as_text=True)
    new = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")
    candidate = re.search(r'name="candidate" type="hidden" value="([0-9a-f]+)"', html).group(1)
    form = {"code": code(new), "candidate": candidate, "csrf_token": _csrf(html)}

    def sealed() -> bytes:
        db.session.expire_all()
        return db.session.scalar(
            select(User).where(User.username == "qb.officer")
        ).totp_secret_sealed

    before = sealed()
    for current in ("", code(old)):  # none, or one already spent at login
        assert client.post("/account/totp", data={**form, "current": current}).status_code == 422
        assert sealed() == before
    response = client.post("/account/totp", data={**form, "current": code(old, 1)})
    assert response.status_code == 302
    assert sealed() != before
