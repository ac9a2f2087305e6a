"""Account operations: the login throttle, timing, and the administrator's changes
(validated, authorised, audited)."""

from __future__ import annotations

import json
import statistics
import time
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from hub.auth import passwords
from hub.errors import Forbidden, NotFound, ValidationFailed
from hub.extensions import db
from hub.models import ApiToken, AuditEntry, LoginThrottle, Setting, User
from hub.models.base import utcnow
from hub.operations import accounts
from hub.operations.accounts import LoginFailed
from hub.operations.actor import SYSTEM, Actor

PASSWORD = "correct horse battery"
LOCK = {"max_failures": 3, "lockout": timedelta(minutes=15)}


@pytest.fixture(autouse=True)
def _in_a_request(app):
    """Operations raise translated messages; as from a page, they have a request's locale."""
    with app.test_request_context():
        yield


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_lockout_after_repeated_failures_then_release(app, demo_users):
    for _ in range(3):
        with pytest.raises(LoginFailed):
            accounts.authenticate("qb.officer", "wrong password!", **LOCK)
    throttle = db.session.get(LoginThrottle, "qb.officer")
    assert throttle.locked_until > utcnow()
    with pytest.raises(LoginFailed) as locked:
        accounts.authenticate("qb.officer", PASSWORD, **LOCK)
    # The same message as a wrong password: the lock says nothing about the account.
    with pytest.raises(LoginFailed) as wrong:
        accounts.authenticate("km.officer", "wrong password!", **LOCK)
    assert str(locked.value.message) == str(wrong.value.message)
    # A while later the username is free again, and success clears the count.
    throttle.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert accounts.authenticate("qb.officer", PASSWORD, **LOCK).username == "qb.officer"
    assert throttle.failures == 0
    assert throttle.locked_until is None


def test_unknown_usernames_lock_the_same_way(app):
    for _ in range(3):
        with pytest.raises(LoginFailed):
            accounts.authenticate("nobody.here", "whatever it is", **LOCK)
    assert db.session.get(LoginThrottle, "nobody.here").locked_until > utcnow()
    assert actions().count("login_failed") == 3


def test_failures_are_counted_per_username_case_insensitively(demo_users):
    for name in ("QB.Officer", "qb.officer ", "qb.OFFICER"):
        with pytest.raises(LoginFailed):
            accounts.authenticate(name, "wrong password!", **LOCK)
    with pytest.raises(LoginFailed):
        accounts.authenticate("qb.officer", PASSWORD, **LOCK)


def test_unknown_user_costs_as_much_as_a_wrong_password(demo_users, monkeypatch):
    """No user enumeration by timing: an unknown name still verifies a (dummy) hash."""
    strong = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", strong)
    monkeypatch.setattr(passwords, "_DUMMY", strong.hash("not-a-real-password"))
    accounts.set_password(SYSTEM, "qb.officer", PASSWORD)
    lock = {"max_failures": 100, "lockout": timedelta(minutes=1)}

    def timed(username: str) -> float:
        start = time.perf_counter()
        with pytest.raises(LoginFailed):
            accounts.authenticate(username, "wrong password!", **lock)
        return time.perf_counter() - start

    known = statistics.median(timed("qb.officer") for _ in range(3))
    unknown = statistics.median(timed("no.such.user") for _ in range(3))
    # Without the dummy hash the ratio would be near 0.01; leave room for a busy machine.
    assert 0.33 < unknown / known < 3, (known, unknown)


def test_disabled_user_cannot_authenticate(demo_users):
    accounts.disable_user(SYSTEM, "km.officer")
    with pytest.raises(LoginFailed):
        accounts.authenticate("km.officer", PASSWORD, **LOCK)
    accounts.enable_user(SYSTEM, "km.officer")
    assert accounts.authenticate("km.officer", PASSWORD, **LOCK).username == "km.officer"
    assert {"user_disabled", "user_enabled"} <= set(actions())


def test_only_admins_manage_accounts(demo_users):
    for name in ("qb.officer", "qb.supervisor"):
        actor = Actor.for_user(demo_users[name])
        for call in (
            lambda a=actor: accounts.list_users(a),
            lambda a=actor: accounts.add_user(
                a, username="x.y", password=PASSWORD, organisation_code="QB", role="admin"
            ),
            lambda a=actor: accounts.disable_user(a, "km.officer"),
            lambda a=actor: accounts.set_role(
                a, "km.officer", role="admin", organisation_code="KM"
            ),
            lambda a=actor: accounts.create_token(a, "km.officer"),
            lambda a=actor: accounts.reset_totp(a, "km.officer"),
            lambda a=actor: accounts.set_totp_required_roles(a, []),
            lambda a=actor: accounts.set_password(a, "km.officer", PASSWORD + "!"),
        ):
            with pytest.raises(Forbidden):
                call()
    assert db.session.scalar(select(User).where(User.username == "x.y")) is None


def test_set_role_and_organisation_is_validated_and_audited(demo_users):
    admin = Actor.for_user(demo_users["admin"])
    with pytest.raises(ValidationFailed) as bad:
        accounts.set_role(admin, "km.officer", role="boss", organisation_code="XX")
    assert set(bad.value.errors) == {"role", "organisation"}
    with pytest.raises(NotFound):
        accounts.set_role(admin, "ghost", role="officer", organisation_code="KM")
    user = accounts.set_role(admin, "km.officer", role="supervisor", organisation_code="SV")
    assert (user.role, user.organisation.code) == ("supervisor", "SV")
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "user_changed")).one()
    assert entry.actor == "admin"
    assert json.loads(entry.leaf_input)["details"]["organisation"] == ["KM", "SV"]


def test_the_last_active_admin_cannot_be_removed(demo_users):
    admin = Actor.for_user(demo_users["admin"])
    with pytest.raises(ValidationFailed):
        accounts.disable_user(admin, "admin")
    with pytest.raises(ValidationFailed):
        accounts.set_role(admin, "admin", role="officer", organisation_code="QB")
    accounts.add_user(
        SYSTEM, username="admin2", password=PASSWORD, organisation_code="KM", role="admin"
    )
    # With a second administrator, the first may step down (though not disable themselves).
    with pytest.raises(ValidationFailed):
        accounts.disable_user(admin, "admin")
    accounts.set_role(admin, "admin", role="officer", organisation_code="QB")
    admin2 = Actor.for_user(db.session.scalar(select(User).where(User.username == "admin2")))
    with pytest.raises(ValidationFailed):
        accounts.set_role(admin2, "admin2", role="officer", organisation_code="KM")


def test_add_user_refuses_bad_input_with_every_reason(demo_users):
    with pytest.raises(ValidationFailed) as bad:
        accounts.add_user(
            SYSTEM,
            username="qb.officer",
            password="short",
            organisation_code="ZZ",
            role="chief",
            language="fr",
        )
    assert set(bad.value.errors) == {"username", "password", "organisation", "role", "language"}
    with pytest.raises(ValidationFailed):
        accounts.add_user(
            SYSTEM, username="has space", password=PASSWORD, organisation_code="QB", role="officer"
        )


def test_tokens_are_stored_hashed_and_revocation_is_audited_once(demo_users):
    admin = Actor.for_user(demo_users["admin"])
    token = accounts.create_token(admin, "km.officer", "reporting script")
    row = db.session.scalars(select(ApiToken)).one()
    assert token not in row.token_hash
    assert accounts.tokens_of(admin, "km.officer") == [row]
    accounts.revoke_token(admin, row.id)
    accounts.revoke_token(admin, row.id)
    assert actions().count("token_revoked") == 1
    with pytest.raises(NotFound):
        accounts.revoke_token(admin, 9999)
    accounts.disable_user(admin, "km.officer")
    with pytest.raises(ValidationFailed):
        accounts.create_token(admin, "km.officer")


def test_totp_policy_is_a_setting_with_known_roles_only(demo_users):
    admin = Actor.for_user(demo_users["admin"])
    with pytest.raises(ValidationFailed):
        accounts.set_totp_required_roles(admin, ["officer", "janitor"])
    assert db.session.get(Setting, accounts.TOTP_ROLES_KEY) is None
    accounts.set_totp_required_roles(admin, ["admin", "officer"])
    assert db.session.get(Setting, accounts.TOTP_ROLES_KEY).value == "officer,admin"
    accounts.set_totp_required_roles(admin, ["officer", "admin"])  # no change, no entry
    assert actions().count("totp_roles_set") == 1
    assert accounts.second_factor_due(demo_users["km.officer"]) == "enrol"
    assert accounts.second_factor_due(demo_users["km.supervisor"]) is None
