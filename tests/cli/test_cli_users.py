"""`hub user ...` and `hub token ...`, through Flask's CLI runner against a real database."""

from __future__ import annotations

from sqlalchemy import select

from hub.extensions import db
from hub.models import AuditEntry, User

PASSWORD = "a long enough password"


def run(app, *args: str, input: str | None = None):
    return app.test_cli_runner().invoke(args=list(args), input=input)


def user(username: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.username == username))


def test_user_add_list_disable_enable_set_password(app, client, browser):
    result = run(
        app, "user", "add", "lan.pham", "--org", "QB", "--role", "officer",
        "--name", "Phạm Lan", "--language", "vi", "--password", PASSWORD,
    )  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    added = user("lan.pham")
    assert (added.organisation.code, added.role, added.display_name) == (
        "QB",
        "officer",
        "Phạm Lan",
    )
    assert added.password_hash.startswith("$argon2id$")

    listing = run(app, "user", "list").output
    line = next(row for row in listing.splitlines() if row.startswith("lan.pham"))
    assert line.split()[1:4] == ["QB", "officer", "active"]

    assert (
        run(app, "user", "set-password", "lan.pham", "--password", "another long one!").exit_code
        == 0
    )
    assert browser.login("lan.pham", PASSWORD).status_code == 401
    assert browser.login("lan.pham", "another long one!").status_code == 302
    assert client.get("/").status_code == 200

    assert run(app, "user", "disable", "lan.pham").exit_code == 0
    assert user("lan.pham").disabled
    assert client.get("/").status_code == 302  # its session ended
    assert "disabled" in run(app, "user", "list").output
    assert run(app, "user", "enable", "lan.pham").exit_code == 0
    assert not user("lan.pham").disabled

    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {"user_added", "password_set", "user_disabled", "user_enabled"} <= actions


def test_password_is_asked_for_twice_when_not_given(app):
    result = run(
        app, "user", "add", "som.chai", "--org", "KM", "--role", "supervisor",
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert user("som.chai").role == "supervisor"


def test_bad_input_gives_one_line_and_a_non_zero_exit(app, demo_users):
    cases = [
        ("user", "add", "x.y", "--org", "ZZ", "--role", "officer", "--password", PASSWORD),
        ("user", "add", "x.y", "--org", "QB", "--role", "officer", "--password", "short"),
        ("user", "add", "qb.officer", "--org", "QB", "--role", "officer", "--password", PASSWORD),
        ("user", "disable", "ghost"),
        ("user", "set-password", "ghost", "--password", PASSWORD),
        ("user", "reset-totp", "ghost"),
        ("token", "create", "ghost"),
        ("token", "revoke", "424242"),
    ]
    for args in cases:
        result = run(app, *args)
        assert result.exit_code == 1, (args, result.output, result.stderr)
        assert result.stderr.startswith("hub: "), args
        assert len(result.stderr.strip().splitlines()) == 1, args
        assert "Traceback" not in result.stderr
    assert user("x.y") is None


def test_token_create_list_revoke_and_the_api_answer(app, client, demo_users):
    result = run(app, "token", "create", "km.officer", "--label", "nightly report")
    assert result.exit_code == 0, result.stderr
    token = result.stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/agreements", headers=headers).status_code == 200

    listing = run(app, "token", "list", "km.officer").stdout.splitlines()
    assert len(listing) == 1
    token_id, state = listing[0].split()[:2]
    assert state == "active"
    assert "nightly report" in listing[0]
    assert token not in listing[0]

    assert run(app, "token", "revoke", token_id).exit_code == 0
    assert "revoked" in run(app, "token", "list", "km.officer").output
    response = client.get("/api/v1/agreements", headers=headers)
    assert response.status_code == 401
    assert "errors" in response.get_json()


def test_reset_totp_from_the_command_line(app, demo_users):
    from hub.operations import accounts

    offer = accounts.begin_enrolment(demo_users["admin"])
    from hub.auth import totp

    accounts.confirm_enrolment(
        demo_users["admin"], offer.candidate, totp.code_at(offer.secret, totp.current_step())
    )
    assert "totp" in run(app, "user", "list").output
    result = run(app, "user", "reset-totp", "admin")
    assert result.exit_code == 0, result.stderr
    assert not user("admin").totp_enrolled
