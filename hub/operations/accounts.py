"""Accounts: logging in (with the throttle and the TOTP second factor), users, API tokens,
and the hub-wide security settings an administrator changes."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, cast

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import CursorResult, func, or_, select, update

from hub.auth import sessions, totp
from hub.auth.passwords import hash_password, needs_rehash, verify_password
from hub.auth.tokens import new_token, token_digest
from hub.errors import Forbidden, Message, NotFound, OperationError, ValidationFailed
from hub.extensions import db
from hub.models import ApiToken, Organisation, Setting, User, UserSession
from hub.models.base import utcnow
from hub.models.user import LANGUAGES, ROLES
from hub.operations import attempts, audit
from hub.operations.actor import SYSTEM, Actor
from hub.operations.unit import lasting, operation, operation_keeping_loaded
from hub.text import clean

log = logging.getLogger(__name__)

#: Setting row naming the roles that must use a second factor (comma-separated).
TOTP_ROLES_KEY = "totp_required_roles"

MIN_PASSWORD_LENGTH = 12


class LoginFailed(OperationError):
    """One message for every cause, so a failure reveals nothing about the account."""

    status = 401
    code = "login_failed"

    def __init__(self) -> None:
        super().__init__(_l("Wrong username or password, or the account cannot sign in now."))


@operation
def authenticate(username: str, password: str, *, max_failures: int, lockout: timedelta) -> User:
    """The user for these credentials, or LoginFailed (the failure counted and committed).

    After `max_failures` failures in a row a username is locked for `lockout`,
    whether or not it exists, so the lockout itself reveals nothing.
    """
    throttle = attempts.throttle_row(username)
    now = utcnow()
    user = _find_user(username)
    locked = attempts.is_locked(throttle, now)
    ok = verify_password(user.password_hash if user else None, password)
    if locked or not ok or user is None or user.disabled:
        target = user.id if user else "unknown"
        limits = attempts.Limits(max_failures, lockout)
        # Lasting: the unit rolls back as LoginFailed passes, then counts it again alone.
        lasting(lambda: _count_login_failure(username, target, now, limits))
        raise LoginFailed()
    attempts.clear(throttle)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def _count_login_failure(
    username: str, target: int | str, now: datetime, limits: attempts.Limits
) -> None:
    throttle = attempts.throttle_row(username)  # read again after a rollback
    locked = attempts.is_locked(throttle, now)
    if not locked:
        attempts.count_failure(throttle, now, limits)
    audit.record(
        "login_failed",
        actor=SYSTEM,
        target_type="user",
        target_id=target,
        details={"locked": locked or attempts.is_locked(throttle, now)},
    )


# --- last seen: the writes a plain request may make (hub.security) ---------------------


@operation_keeping_loaded
def end_expired_session(row: UserSession, now: datetime) -> None:
    """An idle or too old session ends (its cookie stops working)."""
    row.revoked_at = now


@operation_keeping_loaded
def note_session_seen(row: UserSession, now: datetime) -> None:
    row.last_seen_at = now


@operation_keeping_loaded
def note_token_used(row: ApiToken, now: datetime) -> None:
    row.last_used_at = now


@operation
def log_in(user: User, *, pending_totp: bool, replacing: UserSession | None = None) -> str:
    """Start a session; returns the cookie value.

    Always a fresh id: whatever session the browser held before (`replacing`) ends,
    so a cookie planted before login is never the one that carries it.
    """
    if replacing is not None and replacing.revoked_at is None:
        sessions.end_session(replacing)
    token = sessions.start_session(user, pending_totp=pending_totp)
    audit.record(
        "login" if not pending_totp else "login_password_ok",
        actor=Actor.for_user(user),
        target_type="user",
        target_id=user.id,
    )
    return token


@operation
def log_out(actor: Actor, session_row: UserSession, *, everywhere: bool = False) -> None:
    details = None
    if everywhere:
        details = {"tokens_revoked": sessions.end_all_access(session_row.user_id)}
    else:
        sessions.end_session(session_row)
    audit.record(
        "logout_everywhere" if everywhere else "logout",
        actor=actor,
        target_type="user",
        target_id=session_row.user_id,
        details=details,
    )


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed.one(
            "password",
            _l("Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH),
        )


@operation
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
    errors: dict[str, list[Message]] = {}
    username = canonical_username(username)
    if not USERNAME.fullmatch(username):
        errors.setdefault("username", []).append(
            _l("Use letters, digits, dot, dash or underscore (at most 64).")
        )
    elif db.session.scalar(select(User.id).where(func.lower(User.username) == username)):
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
    if errors or org is None:  # no organisation without its error
        raise ValidationFailed(errors)
    user = User(
        username=username,
        display_name=clean(display_name or "").strip() or username,  # no bidi tricks
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
    return user


#: Usernames: ASCII letters, digits, dot, dash, underscore, stored lower-case. Look-alike
#: letters of other scripts (Cyrillic "о", fullwidth "ｏ") would make a second account
#: that reads the same; one spelling per name keeps one lockout counter per person.
USERNAME: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def canonical_username(username: str) -> str:
    """The one spelling of a username: trimmed, lower-cased (``KM.Officer`` is ``km.officer``)."""
    return username.strip().lower()


def _find_user(username: str) -> User | None:
    return db.session.scalar(
        select(User).where(func.lower(User.username) == canonical_username(username))
    )


def _user(username: str) -> User:
    user = _find_user(username)
    if user is None:
        raise NotFound(_l("No such user."))
    return user


def _require_admin(actor: Actor) -> None:
    if actor is not SYSTEM and not actor.is_admin:
        raise Forbidden()


def _keep_an_admin(actor: Actor, user: User, *, role: str, disabled: bool) -> None:
    """An administrator may not lock everyone (themselves included) out of administration."""
    if actor is SYSTEM or user.role != "admin" or user.disabled:
        return
    if role == "admin" and not disabled:
        return
    others = db.session.scalar(
        select(func.count(User.id)).where(
            User.role == "admin", User.disabled.is_(False), User.id != user.id
        )
    )
    if not others:
        raise ValidationFailed.one("role", _l("At least one active administrator must remain."))


@operation
def disable_user(actor: Actor, username: str) -> User:
    _require_admin(actor)
    user = _user(username)
    if actor.user_id == user.id:
        raise ValidationFailed.one("username", _l("You cannot disable your own account."))
    _keep_an_admin(actor, user, role=user.role, disabled=True)
    user.disabled = True
    sessions.end_all_sessions(user.id)
    audit.record("user_disabled", actor=actor, target_type="user", target_id=user.id)
    return user


@operation
def set_password(actor: Actor, username: str, password: str) -> User:
    user = _user(username)
    if actor is not SYSTEM and not actor.is_admin and actor.user_id != user.id:
        raise Forbidden()
    _check_password(password)
    user.password_hash = hash_password(password)
    details = {"tokens_revoked": sessions.end_all_access(user.id)}
    audit.record(
        "password_set", actor=actor, target_type="user", target_id=user.id, details=details
    )
    return user


@operation
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
    return token


@operation
def revoke_token(actor: Actor, token_id: int) -> ApiToken:
    if actor is not SYSTEM and not actor.is_admin:
        raise Forbidden()
    row = db.session.get(ApiToken, token_id)
    if row is None:
        raise NotFound()
    if row.revoked_at is not None:
        return row
    row.revoked_at = utcnow()
    audit.record("token_revoked", actor=actor, target_type="api_token", target_id=row.id)
    return row


@operation
def set_language(actor: Actor, language: str) -> None:
    """Save the actor's preferred language (what the switcher does for a signed-in user)."""
    if language not in LANGUAGES:
        raise ValidationFailed.one("language", _l("Unknown language."))
    user = db.session.get(User, actor.user_id)
    if user is None:  # the actor is signed in, so their user exists
        raise NotFound()
    if user.language != language:
        user.language = language
        audit.record(
            "language_set",
            actor=actor,
            target_type="user",
            target_id=user.id,
            details={"language": language},
        )


# --- users: reading and changing ---------------------------------------------------------


def list_users(actor: Actor) -> list[User]:
    _require_admin(actor)
    return list(db.session.scalars(select(User).order_by(User.username)))


def get_user(actor: Actor, username: str) -> User:
    _require_admin(actor)
    return _user(username)


def tokens_of(actor: Actor, username: str) -> list[ApiToken]:
    """A user's API tokens, newest first (their hashes only: the tokens were shown once)."""
    _require_admin(actor)
    user = _user(username)
    return list(
        db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        )
    )


@operation
def enable_user(actor: Actor, username: str) -> User:
    _require_admin(actor)
    user = _user(username)
    if user.disabled:
        user.disabled = False
        audit.record("user_enabled", actor=actor, target_type="user", target_id=user.id)
    return user


@operation
def set_role(actor: Actor, username: str, *, role: str, organisation_code: str) -> User:
    """Change a user's role and organisation; it applies from their next request."""
    _require_admin(actor)
    user = _user(username)
    errors: dict[str, list[Message]] = {}
    if role not in ROLES:
        errors.setdefault("role", []).append(_l("Unknown role."))
    org = db.session.scalar(select(Organisation).where(Organisation.code == organisation_code))
    if org is None:
        errors.setdefault("organisation", []).append(_l("Unknown organisation."))
    if errors or org is None:  # no organisation without its error
        raise ValidationFailed(errors)
    _keep_an_admin(actor, user, role=role, disabled=user.disabled)
    if user.role == role and user.organisation_id == org.id:
        return user
    details = {
        "role": [user.role, role],
        "organisation": [user.organisation.code, org.code],
    }
    user.role = role
    user.organisation_id = org.id
    audit.record(
        "user_changed", actor=actor, target_type="user", target_id=user.id, details=details
    )
    return user


# --- the TOTP second factor --------------------------------------------------------------


def _totp_key_file() -> Path:
    settings = current_app.config["HUB"]
    return settings.totp_key_file or Path(current_app.instance_path) / "totp_key"


def totp_required_roles() -> set[str]:
    """Roles that must use a second factor: the administrator's choice, else the default.

    The default is every role in production and none in development (and so the demo).
    """
    row = db.session.get(Setting, TOTP_ROLES_KEY)
    if row is None:
        return set(ROLES) if current_app.config["HUB"].production else set()
    return {role for role in row.value.split(",") if role in ROLES}


@operation
def set_totp_required_roles(actor: Actor, roles: Iterable[str]) -> set[str]:
    _require_admin(actor)
    chosen = set(roles)
    unknown = chosen - set(ROLES)
    if unknown:
        raise ValidationFailed.one("roles", _l("Unknown role."))
    value = ",".join(role for role in ROLES if role in chosen)
    row = db.session.get(Setting, TOTP_ROLES_KEY)
    if row is None:
        db.session.add(Setting(key=TOTP_ROLES_KEY, value=value))
    elif row.value == value:
        return chosen
    else:
        row.value = value
    audit.record(
        "totp_roles_set",
        actor=actor,
        target_type="setting",
        target_id=TOTP_ROLES_KEY,
        details={"roles": sorted(chosen)},
    )
    return chosen


def totp_required_for(user: User) -> bool:
    return user.role in totp_required_roles()


def second_factor_due(user: User) -> str | None:
    """What a user owes after the password: "verify" a code, "enrol" first, or nothing."""
    if user.totp_enrolled:
        return "verify"
    if totp_required_for(user):
        return "enrol"
    return None


class SecondFactorFailed(OperationError):
    status = 401
    code = "second_factor_failed"

    def __init__(self) -> None:
        super().__init__(_l("That code is not valid, or it was already used. Try the next one."))


def _claim_step(user: User, step: int) -> bool:
    """Record `step` as used unless it (or a later one) already was: atomic, so two
    requests racing with the same code cannot both win."""
    result = cast(
        CursorResult[Any],
        db.session.execute(
            update(User)
            .where(
                User.id == user.id,
                or_(User.totp_last_step.is_(None), User.totp_last_step < step),
            )
            .values(totp_last_step=step)
            .execution_options(synchronize_session=False)
        ),
    )
    if result.rowcount == 1:
        user.totp_last_step = step
        return True
    return False


def _code_step(user: User, code: str) -> int | None:
    if user.totp_secret_sealed is None:  # not enrolled: no code is right
        return None
    try:
        secret = totp.open_secret(_totp_key_file(), user.totp_secret_sealed, user.id)
    except totp.SealError:
        # The key file changed or was lost: the user must be re-enrolled by an administrator.
        log.error("TOTP secret of user %s does not open: check HUB_TOTP_KEY_FILE", user.id)
        return None
    return totp.matching_step(secret, code)


def _check_own_code(user: User, field: str, code: str) -> None:
    """A signed-in user's code from the factor in force, counted like a login's."""

    def correct() -> bool:
        step = _code_step(user, code)
        return step is not None and _claim_step(user, step)

    attempts.check_typed_secret(
        user,
        field=field,
        correct=correct,
        action="totp_failed",
        message=SecondFactorFailed().message,
    )


@operation
def complete_second_factor(
    session_row: UserSession, code: str, *, max_failures: int, lockout: timedelta
) -> str:
    """Check the code of a session pending its second factor; returns the new cookie value.

    A wrong or replayed code counts as a failed login; when the account locks, the
    pending session ends and the password step must be done again (LoginFailed).
    """
    user = session_row.user
    if not session_row.pending_totp or session_row.revoked_at is not None or not user.totp_enrolled:
        raise LoginFailed()
    throttle = attempts.throttle_row(user.username)
    now = utcnow()
    actor = Actor.for_user(user)
    limits = attempts.Limits(max_failures, lockout)
    # Lasting: counted (and the session ended on lockout) whatever the unit does next.
    if attempts.is_locked(throttle, now):
        lasting(lambda: _second_factor_failed(session_row, actor, now, limits, replay=False))
        raise LoginFailed()
    step = _code_step(user, code)
    if step is None or not _claim_step(user, step):
        replay = step is not None
        if lasting(lambda: _second_factor_failed(session_row, actor, now, limits, replay=replay)):
            raise LoginFailed()
        raise SecondFactorFailed()
    attempts.clear(throttle)
    sessions.end_session(session_row)
    token = sessions.start_session(user, pending_totp=False)
    audit.record(
        "login", actor=actor, target_type="user", target_id=user.id, details={"second_factor": True}
    )
    return token


def _second_factor_failed(
    session_row: UserSession, actor: Actor, now: datetime, limits: attempts.Limits, *, replay: bool
) -> bool:
    """Count a wrong code (or note one refused while locked); True when locked."""
    throttle = attempts.throttle_row(actor.username)  # read again after a rollback
    if attempts.is_locked(throttle, now):
        locked, details = True, {"locked": True}
    else:
        locked = attempts.count_failure(throttle, now, limits)
        details = {"locked": locked, "replay": replay}
    if locked:
        sessions.end_session(session_row)
    audit.record(
        "totp_failed", actor=actor, target_type="user", target_id=actor.user_id, details=details
    )
    return locked


@dataclass(frozen=True)
class Enrolment:
    """A secret offered to a user, not yet in force: shown once, confirmed with a code."""

    secret: str
    uri: str
    candidate: str

    @property
    def grouped(self) -> str:
        return totp.group_secret(self.secret)


def begin_enrolment(user: User) -> Enrolment:
    """A fresh secret for `user`; nothing is stored until confirm_enrolment."""
    secret = totp.new_secret()
    return Enrolment(
        secret=secret,
        uri=totp.provisioning_uri(secret, user.username),
        candidate=totp.seal_candidate(_totp_key_file(), secret, user.id),
    )


def reopen_enrolment(user: User, candidate: str) -> Enrolment | None:
    """The same offer again (after a mistyped code), or None when it no longer opens."""
    try:
        secret = totp.open_candidate(_totp_key_file(), candidate, user.id)
    except totp.SealError:
        return None
    return Enrolment(secret, totp.provisioning_uri(secret, user.username), candidate)


@operation
def confirm_enrolment(
    user: User,
    candidate: str,
    code: str,
    *,
    session_row: UserSession | None = None,
    current_code: str | None = None,
) -> str | None:
    """Put the offered secret in force once a code from it matches.

    Replacing a factor already in force also takes a code from the old one
    (`current_code`), so a stolen session cannot swap in the thief's phone; a lost
    phone is an administrator's reset instead.

    From a session pending enrolment (`session_row.pending_totp`), that session ends
    and a full one starts: the new cookie value is returned.  Otherwise None.
    """
    try:
        secret = totp.open_candidate(_totp_key_file(), candidate, user.id)
    except totp.SealError:
        raise ValidationFailed.one(
            "code", _l("This enrolment has expired. Start again with a new code.")
        ) from None
    step = totp.matching_step(secret, code)
    if step is None:
        raise ValidationFailed.one(
            "code", _l("That code does not match. Check the app's clock and try the next one.")
        )
    replaced = user.totp_enrolled
    if replaced:
        # Checked after the new code, so a refusal there never spends an old code.
        _check_own_code(user, "current", current_code or "")
    user.totp_secret_sealed = totp.seal_secret(_totp_key_file(), secret, user.id)
    # The code just used to confirm may not be used again to log in.
    user.totp_last_step = step
    actor = Actor.for_user(user)
    audit.record(
        "totp_enrolled",
        actor=actor,
        target_type="user",
        target_id=user.id,
        details={"replaced": replaced},
    )
    token = None
    if session_row is not None and session_row.pending_totp:
        sessions.end_session(session_row)
        token = sessions.start_session(user, pending_totp=False)
        audit.record(
            "login", actor=actor, target_type="user", target_id=user.id, details={"enrolled": True}
        )
    return token


@operation
def remove_own_totp(actor: Actor, code: str) -> None:
    """A user turns their second factor off: only with a current code, and only where
    their role does not require one."""
    user = db.session.get(User, actor.user_id)
    if user is None or not user.totp_enrolled:
        raise NotFound()
    if totp_required_for(user):
        raise Forbidden(_l("Your role requires a second factor."))
    _check_own_code(user, "code", code)
    user.totp_secret_sealed = None
    user.totp_last_step = None
    audit.record("totp_removed", actor=actor, target_type="user", target_id=user.id)


@operation
def reset_totp(actor: Actor, username: str) -> User:
    """An administrator clears a user's second factor (lost phone): they enrol again, and
    their sessions end, since whoever holds the old device may be signed in."""
    _require_admin(actor)
    user = _user(username)
    if not user.totp_enrolled:
        return user
    user.totp_secret_sealed = None
    user.totp_last_step = None
    sessions.end_all_sessions(user.id)
    audit.record("totp_reset", actor=actor, target_type="user", target_id=user.id)
    return user


@operation
def change_own_password(actor: Actor, session_row: UserSession, *, current: str, new: str) -> None:
    """A user changes their own password: the current one first, and every other session
    of theirs ends (whoever else knew the old password is out); this one stays."""
    user = db.session.get(User, actor.user_id)
    if user is None:
        raise NotFound()
    attempts.check_typed_secret(
        user,
        field="current",
        correct=lambda: verify_password(user.password_hash, current),
        action="password_refused",
        message=_l("That is not your current password."),
    )
    if new == current:
        raise ValidationFailed.one("password", _l("Choose a password you have not used here."))
    _check_password(new)
    user.password_hash = hash_password(new)
    db.session.execute(
        update(UserSession)
        .where(
            UserSession.user_id == user.id,
            UserSession.revoked_at.is_(None),
            UserSession.id != session_row.id,
        )
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    audit.record("password_changed", actor=actor, target_type="user", target_id=user.id)
