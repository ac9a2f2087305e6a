"""The administrator's pages: admin only, every change through the operations, CSRF on
every form, API tokens shown once."""

from __future__ import annotations

import re

import pytest
from flask import g
from sqlalchemy import select

from hub.extensions import db
from hub.models import ApiToken, AuditEntry, Setting, User
from hub.operations import accounts

PASSWORD = "correct horse battery"

PAGES = [
    "/admin/",
    "/admin/users",
    "/admin/users/new",
    "/admin/users/km.officer",
    "/admin/security",
    "/admin/organisations",
]
FORMS = [
    ("/admin/users/new", {"username": "new.one", "organisation": "QB", "role": "admin",
                          "password": PASSWORD}),
    ("/admin/users/km.officer/role", {"organisation": "QB", "role": "admin"}),
    ("/admin/users/km.officer/password", {"password": "a new long password"}),
    ("/admin/users/km.officer/disable", {}),
    ("/admin/users/km.officer/enable", {}),
    ("/admin/users/km.officer/totp-reset", {}),
    ("/admin/users/km.officer/tokens", {"label": "x"}),
    ("/admin/tokens/1/revoke", {}),
    ("/admin/security", {"roles": ["officer"]}),
]  # fmt: skip


def csrf(client, path: str) -> str:
    g.pop("csrf_token", None)  # the test's shared app context caches it across clients
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)


def login(client, username: str) -> None:
    response = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": csrf(client, "/login")},
    )
    assert response.status_code == 302


@pytest.fixture
def admin(client, demo_users):
    login(client, "admin")
    client.set_cookie("hub_lang", "en")
    return client


def user(username: str) -> User:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.username == username))


@pytest.mark.parametrize("username", ["qb.officer", "km.supervisor", "qb.supervisor"])
def test_other_roles_get_403_on_every_page_and_form(client, demo_users, username):
    login(client, username)
    token = csrf(client, "/")
    for path in PAGES:
        assert client.get(path).status_code == 403, path
    for path, data in FORMS:
        assert client.post(path, data={**data, "csrf_token": token}).status_code == 403, path
    assert user("km.officer").role == "officer"
    assert not user("km.officer").disabled
    assert db.session.get(Setting, accounts.TOTP_ROLES_KEY) is None


def test_anonymous_is_sent_to_login(client, demo_users):
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")


def test_admin_forms_refuse_a_post_without_csrf_token(admin):
    for path, data in FORMS:
        assert admin.post(path, data=data).status_code == 400, path
    assert user("new.one") is None
    assert user("km.officer").role == "officer"
    assert not user("km.officer").disabled
    assert db.session.scalar(select(ApiToken)) is None
    assert db.session.get(Setting, accounts.TOTP_ROLES_KEY) is None


def test_pages_render_and_nav_links_show_for_admin_only(admin, client, demo_users):
    for path in PAGES:
        assert admin.get(path, follow_redirects=True).status_code == 200, path
    home = admin.get("/").get_data(as_text=True)
    assert 'href="/admin/users"' in home
    listing = admin.get("/admin/users").get_data(as_text=True)
    for name in demo_users:
        assert f">{name}</a>" in listing
    client.post("/logout", data={"csrf_token": csrf(client, "/")})
    login(client, "qb.officer")
    assert 'href="/admin/users"' not in client.get("/").get_data(as_text=True)
    assert 'href="/account"' in client.get("/").get_data(as_text=True)


def test_add_user_through_the_form(admin):
    token = csrf(admin, "/admin/users/new")
    bad = admin.post(
        "/admin/users/new",
        data={"username": "qb.officer", "organisation": "KM", "role": "officer",
              "password": "short", "csrf_token": token},
    )  # fmt: skip
    assert bad.status_code == 422
    page = bad.get_data(as_text=True)
    assert "This username is taken." in page
    assert "Use at least 12 characters." in page
    response = admin.post(
        "/admin/users/new",
        data={"username": "bounmy.s", "display_name": "Bounmy S.", "organisation": "SV",
              "role": "officer", "language": "lo", "password": PASSWORD, "csrf_token": token},
    )  # fmt: skip
    assert response.status_code == 302
    added = user("bounmy.s")
    assert (added.organisation.code, added.role, added.language) == ("SV", "officer", "lo")
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "user_added")).all()
    assert entry[-1].actor == "admin"


def test_role_password_disable_enable(admin, demo_users):
    from tests.conftest import Browser

    officer = admin.application.test_client()
    login(officer, "km.officer")
    token = csrf(admin, "/admin/users/km.officer")

    admin.post("/admin/users/km.officer/role",
               data={"organisation": "SV", "role": "supervisor", "csrf_token": token})  # fmt: skip
    assert (user("km.officer").role, user("km.officer").organisation.code) == ("supervisor", "SV")
    assert officer.get("/").status_code == 200  # a role change keeps the session

    response = admin.post(
        "/admin/users/km.officer/password", data={"password": "short", "csrf_token": token}
    )
    assert response.status_code == 302
    assert officer.get("/").status_code == 200  # refused: nothing changed
    admin.post(
        "/admin/users/km.officer/password",
        data={"password": "a brand new password", "csrf_token": token},
    )
    assert officer.get("/").status_code == 302  # a new password ends the sessions
    g.pop("csrf_token", None)
    assert Browser(officer).login("km.officer", "a brand new password").status_code == 302

    admin.post("/admin/users/km.officer/disable", data={"csrf_token": token})
    assert user("km.officer").disabled
    assert officer.get("/").status_code == 302
    admin.post("/admin/users/km.officer/enable", data={"csrf_token": token})
    assert not user("km.officer").disabled


def test_admin_cannot_disable_or_demote_themselves_as_the_last_admin(admin):
    token = csrf(admin, "/admin/users/admin")
    page = admin.post(
        "/admin/users/admin/disable", data={"csrf_token": token}, follow_redirects=True
    ).get_data(as_text=True)
    assert "You cannot disable your own account." in page
    admin.post("/admin/users/admin/role", data={"organisation": "QB", "role": "officer",
                                                "csrf_token": token})  # fmt: skip
    assert user("admin").role == "admin"
    assert not user("admin").disabled


def test_api_token_is_shown_once_and_can_be_revoked(admin, client):
    token = csrf(admin, "/admin/users/sv.officer")
    response = admin.post(
        "/admin/users/sv.officer/tokens", data={"label": "sync", "csrf_token": token}
    )
    assert response.status_code == 201
    assert response.headers.get("Cache-Control") == "no-store"
    secret = re.search(r'id="new-token" readonly value="([^"]+)"', response.get_data(as_text=True))
    secret = secret.group(1)
    assert secret not in admin.get("/admin/users/sv.officer").get_data(as_text=True)
    assert "session" not in response.headers.get("Set-Cookie", "")  # not flashed into a cookie
    headers = {"Authorization": f"Bearer {secret}"}
    api = admin.application.test_client()
    assert api.get("/api/v1/agreements", headers=headers).status_code == 200

    row = db.session.scalars(select(ApiToken)).one()
    assert row.label == "sync"
    admin.post(f"/admin/tokens/{row.id}/revoke", data={"csrf_token": token})
    assert api.get("/api/v1/agreements", headers=headers).status_code == 401
    assert admin.post("/admin/tokens/999/revoke", data={"csrf_token": token}).status_code == 404


def test_second_factor_policy_page(admin, client):
    token = csrf(admin, "/admin/security")
    response = admin.post("/admin/security", data={"roles": ["officer", "supervisor"],
                                                   "csrf_token": token})  # fmt: skip
    assert response.status_code == 302
    assert accounts.totp_required_roles() == {"officer", "supervisor"}
    page = admin.get("/admin/security").get_data(as_text=True)
    assert re.search(r'value="officer"[^>]*checked|checked[^>]*value="officer"', page)
    assert not re.search(r'value="admin"[^>]*checked|checked[^>]*value="admin"', page)
    assert admin.post("/admin/security", data={"roles": ["janitor"], "csrf_token": token}
                      ).status_code == 200  # fmt: skip
    assert accounts.totp_required_roles() == {"officer", "supervisor"}
    # Now an officer is sent to enrol at login.
    officer = admin.application.test_client()
    g.pop("csrf_token", None)
    response = officer.post(
        "/login",
        data={"username": "qb.officer", "password": PASSWORD,
              "csrf_token": csrf(officer, "/login")},
    )  # fmt: skip
    assert response.headers["Location"].endswith("/account/totp")
    # Untick everything: nobody is required.
    admin.post("/admin/security", data={"csrf_token": token})
    assert accounts.totp_required_roles() == set()


def test_reset_second_factor_from_the_page(admin, demo_users):
    from hub.auth import totp

    offer = accounts.begin_enrolment(demo_users["qb.supervisor"])
    accounts.confirm_enrolment(
        demo_users["qb.supervisor"],
        offer.candidate,
        totp.code_at(offer.secret, totp.current_step()),
    )
    assert "Clear the second factor" in admin.get("/admin/users/qb.supervisor").get_data(
        as_text=True
    )
    admin.post("/admin/users/qb.supervisor/totp-reset",
               data={"csrf_token": csrf(admin, "/admin/users/qb.supervisor")})  # fmt: skip
    assert not user("qb.supervisor").totp_enrolled


def test_organisations_and_agreements_are_listed_read_only(admin):
    page = admin.get("/admin/organisations").get_data(as_text=True)
    for code in ("QB", "KM", "SV", "QB-KM-MOU", "QB-SV-MOU", "VN-LA-BILATERAL", "UN-1988",
                 "MEKONG-MOU-1993", "PLAN-42-2023"):  # fmt: skip
        assert code in page
    assert "<form" not in page.split("<main", 1)[1].split("</main>")[0]
    # Editing lives on the compliance pages: linked, not duplicated.
    assert 'href="/agreements/QB-KM-MOU/obligations"' in page
    assert admin.post("/admin/organisations", data={}).status_code in (400, 405)


def test_unknown_user_page_is_404(admin):
    assert admin.get("/admin/users/ghost").status_code == 404
    assert (
        admin.post(
            "/admin/users/ghost/disable", data={"csrf_token": csrf(admin, "/admin/users")}
        ).status_code
        == 404
    )
