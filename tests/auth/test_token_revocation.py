"""A password reset and "log out everywhere" end every way in: the sessions and the API
tokens (hub.auth.sessions.end_all_access), from the pages and from `hub user set-password`,
and the pages say so."""

from __future__ import annotations

import html
import json
import re

from flask_babel import force_locale, gettext
from sqlalchemy import select

from hub.extensions import db
from hub.models import ApiToken, AuditEntry
from tests.auth.test_sessions import as_browser

NEW = "another long enough password"


def _works(client, headers) -> bool:
    return client.get("/api/v1/agreements", headers=headers).status_code == 200


def _live_tokens(user_id: int) -> int:
    db.session.expire_all()
    return len(
        db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        ).all()
    )


def _flashed(client, path: str) -> list[str]:
    page = client.get(path).get_data(as_text=True)
    return [html.unescape(m) for m in re.findall(r'<p class="flash status"[^>]*>([^<]*)</p>', page)]


def _last_details(action: str) -> dict:
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id.desc())
    ).first()
    return json.loads(entry.leaf_input)["details"]


def test_log_out_everywhere_revokes_the_api_tokens_and_says_so(app, client, demo_users, api_token):
    mine, theirs = api_token("km.officer"), api_token("km.supervisor")
    second = api_token("km.officer")
    browser = as_browser(client)
    browser.login("km.officer")
    page = client.get("/account").get_data(as_text=True)
    with force_locale("lo"):
        assert (
            gettext(
                "If you left the hub open on another computer, or lost a device, end every session "
                "at once; your API tokens are revoked too."
            )
            in page
        )
    response = client.post(
        "/account/logout-everywhere", data={"csrf_token": browser.csrf("/account")}
    )
    assert response.status_code == 302
    with force_locale("lo"):
        said = gettext("You are logged out on every device, and your API tokens are revoked.")
    assert said in _flashed(client, "/login")
    assert not _works(client, mine)
    assert not _works(client, second)
    assert _works(client, theirs)  # another user's token is untouched
    assert _live_tokens(demo_users["km.officer"].id) == 0
    assert _last_details("logout_everywhere") == {"tokens_revoked": 2}


def test_a_password_set_by_an_administrator_revokes_the_api_tokens(
    app, client, demo_users, api_token
):
    headers = api_token("qb.officer")
    admin = as_browser(client)
    admin.login("admin")
    page = html.unescape(client.get("/admin/users/qb.officer").get_data(as_text=True))
    with force_locale("vi"):  # the administrator reads the organisation's language
        told = gettext("Setting a password ends the account's sessions and revokes its API tokens.")
        done = gettext("Password set; the account's sessions ended and its API tokens are revoked.")
    assert told in page
    response = client.post(
        "/admin/users/qb.officer/password",
        data={"password": NEW, "csrf_token": admin.csrf("/admin/users/qb.officer")},
    )
    assert response.status_code == 302
    assert done in _flashed(client, "/admin/users/qb.officer")
    assert not _works(client, headers)
    assert _last_details("password_set") == {"tokens_revoked": 1}


def test_hub_user_set_password_revokes_the_api_tokens(app, client, demo_users, api_token):
    headers = api_token("sv.officer")
    assert _works(client, headers)
    result = app.test_cli_runner().invoke(
        args=["user", "set-password", "sv.officer", "--password", NEW]
    )
    assert result.exit_code == 0, result.output
    assert "API tokens are revoked" in result.output
    assert not _works(client, headers)
    assert _live_tokens(demo_users["sv.officer"].id) == 0
