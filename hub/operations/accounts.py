"""Accounts: logging in (with the throttle), users, API tokens."""

from __future__ import annotations

from datetime import timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from hub import audit
from hub.auth import sessions
from hub.auth.passwords import hash_password, needs_rehash, verify_password
from hub.auth.tokens import new_token, token_digest
from hub.extensions import db
from hub.models import ApiToken, LoginThrottle, Organisation, User
from hub.models.base import utcnow
from hub.models.user import LANGUAGES, ROLES
from hub.operations.actor import SYSTEM, Actor
from hub.operations.errors import Forbidden, NotFound, OperationError, ValidationFailed

MIN_PASSWORD_LENGTH = 12


class LoginFailed(OperationError):
    """One message for every cause, so a failure reveals nothing about the account."""

    status = 401
    code = "login_failed"

    def __init__(self):
        super().__init__(_l("Wrong username or password, or the account cannot sign in now."))


def _throttle_row(username: str) -> LoginThrottle:
    key = username.strip().lower()[:64]
    row = db.session.get(LoginThrottle, key)
    if row is None:
        row = LoginThrottle(username_key=key, failures=0)
        db.session.add(row)
    return row


def authenticate(username: str, password: str, *, max_failures: int, lockout: timedelta) -> User:
    """The user for these credentials, or LoginFailed (committed, with the failure counted).

    After `max_failures` failures in a row a username is locked for `lockout`,
    whether or not it exists, so the lockout itself reveals nothing.
    """
    throttle = _throttle_row(username)
    now = utcnow()
    user = db.session.scalar(select(User).where(User.username == username.strip()))
    locked = throttle.locked_until is not None and throttle.locked_until > now
    ok = verify_password(user.password_hash if user else None, password)
    if locked or not ok or user is None or user.disabled:
        if not locked:
            throttle.failures += 1
            throttle.last_failure_at = now
            if throttle.failures >= max_failures:
                throttle.locked_until = now + lockout
                throttle.failures = 0
        audit.record(
            "login_failed",
            actor=SYSTEM,
            target_type="user",
            target_id=user.id if user else "unknown",
            details={
                "locked": bool(locked or (throttle.locked_until and throttle.locked_until > now))
            },
        )
        db.session.commit()
        raise LoginFailed()
    throttle.failures = 0
    throttle.locked_until = None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def log_in(user: User, *, pending_totp: bool) -> str:
    """Start a session (commits); returns the cookie value."""
    token = sessions.start_session(user, pending_totp=pending_totp)
    audit.record(
        "login" if not pending_totp else "login_password_ok",
        actor=Actor.for_user(user),
        target_type="user",
        target_id=user.id,
    )
    db.session.commit()
    return token


def log_out(actor: Actor, session_row, *, everywhere: bool = False) -> None:
    if everywhere:
        sessions.end_all_sessions(session_row.user_id)
    else:
        sessions.end_session(session_row)
    audit.record(
        "logout_everywhere" if everywhere else "logout",
        actor=actor,
        target_type="user",
        target_id=session_row.user_id,
    )
    db.session.commit()


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed.one(
            "password",
            _l("Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH),
        )


def add_user(
    actor: Actor,
    *,
    username: str,
    password: str,
    organisation_code: str,
    role: str,
    display_name: str | None = None,
    language: str | None = None,
) -> User:
    if not actor.is_admin and actor is not SYSTEM:
        raise Forbidden()
    errors: dict[str, list] = {}
    username = username.strip()
    if not username or len(username) > 64 or not all(c.isalnum() or c in "._-" for c in username):
        errors.setdefault("username", []).append(
            _l("Use letters, digits, dot, dash or underscore (at most 64).")
        )
    elif db.session.scalar(select(User.id).where(User.username == username)):
        errors.setdefault("username", []).append(_l("This username is taken."))
    if role not in ROLES:
        errors.setdefault("role", []).append(_l("Unknown role."))
    if language is not None and language not in LANGUAGES:
        errors.setdefault("language", []).append(_l("Unknown language."))
    org = db.session.scalar(select(Organisation).where(Organisation.code == organisation_code))
    if org is None:
        errors.setdefault("organisation", []).append(_l("Unknown organisation."))
    if len(password) < MIN_PASSWORD_LENGTH:
        errors.setdefault("password", []).append(
            _l("Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)
        )
    if errors:
        raise ValidationFailed(errors)
    user = User(
        username=username,
        display_name=display_name or username,
        organisation_id=org.id,
        role=role,
        language=language,
        password_hash=hash_password(password),
    )
    db.session.add(user)
    db.session.flush()
    audit.record(
        "user_added",
        actor=actor,
        target_type="user",
        target_id=user.id,
        details={"role": role, "organisation": org.code},
    )
    db.session.commit()
    return user


def _user(username: str) -> User:
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(_l("No such user."))
    return user


def disable_user(actor: Actor, username: str) -> User:
    if not actor.is_admin and actor is not SYSTEM:
        raise Forbidden()
    user = _user(username)
    user.disabled = True
    sessions.end_all_sessions(user.id)
    audit.record("user_disabled", actor=actor, target_type="user", target_id=user.id)
    db.session.commit()
    return user


def set_password(actor: Actor, username: str, password: str) -> User:
    user = _user(username)
    if actor is not SYSTEM and not actor.is_admin and actor.user_id != user.id:
        raise Forbidden()
    _check_password(password)
    user.password_hash = hash_password(password)
    sessions.end_all_sessions(user.id)
    audit.record("password_set", actor=actor, target_type="user", target_id=user.id)
    db.session.commit()
    return user


def create_token(actor: Actor, username: str, label: str = "") -> str:
    """A new API bearer token for the user; only its hash is kept, so show it once."""
    if actor is not SYSTEM and not actor.is_admin:
        raise Forbidden()
    user = _user(username)
    if user.disabled:
        raise ValidationFailed.one("username", _l("This account is disabled."))
    token = new_token()
    row = ApiToken(token_hash=token_digest(token), user_id=user.id, label=label[:64])
    db.session.add(row)
    db.session.flush()
    audit.record("token_created", actor=actor, target_type="api_token", target_id=row.id)
    db.session.commit()
    return token


def revoke_token(actor: Actor, token_id: int) -> None:
    if actor is not SYSTEM and not actor.is_admin:
        raise Forbidden()
    row = db.session.get(ApiToken, token_id)
    if row is None:
        raise NotFound()
    row.revoked_at = utcnow()
    audit.record("token_revoked", actor=actor, target_type="api_token", target_id=row.id)
    db.session.commit()


def set_language(actor: Actor, language: str) -> None:
    """Save the actor's preferred language (what the switcher does for a signed-in user)."""
    if language not in LANGUAGES:
        raise ValidationFailed.one("language", _l("Unknown language."))
    user = db.session.get(User, actor.user_id)
    if user.language != language:
        user.language = language
        audit.record(
            "language_set",
            actor=actor,
            target_type="user",
            target_id=user.id,
            details={"language": language},
        )
        db.session.commit()
