"""Attempts at a secret someone types: the password at login and at a password change, the
second-factor code at login, at removal and at replacement.

One counter per username (known or not), one lockout: `HUB_LOGIN_MAX_FAILURES` wrong
secrets in a row lock the username for `HUB_LOGIN_LOCKOUT_MINUTES`, whichever of those
places they were typed in, so no place offers more guesses than the login does.  Every
check of a typed secret goes through here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l

from hub.errors import Message, ValidationFailed
from hub.extensions import db
from hub.models import LoginThrottle, User
from hub.models.base import utcnow
from hub.operations import audit
from hub.operations.actor import Actor
from hub.operations.unit import lasting


@dataclass(frozen=True)
class Limits:
    max_failures: int
    lockout: timedelta

    @classmethod
    def from_settings(cls) -> Limits:
        settings = current_app.config["HUB"]
        return cls(settings.login_max_failures, timedelta(minutes=settings.login_lockout_minutes))


def throttle_key(username: str) -> str:
    return username.strip().lower()[:64]


def throttle_row(username: str) -> LoginThrottle:
    key = throttle_key(username)
    row = db.session.get(LoginThrottle, key)
    if row is None:
        row = LoginThrottle(username_key=key, failures=0)
        db.session.add(row)
    return row


def is_locked(row: LoginThrottle, now: datetime) -> bool:
    return row.locked_until is not None and row.locked_until > now


def count_failure(row: LoginThrottle, now: datetime, limits: Limits) -> bool:
    """One more wrong secret; True when it locks the username."""
    row.failures += 1
    row.last_failure_at = now
    if row.failures >= limits.max_failures:
        row.locked_until = now + limits.lockout
        row.failures = 0
        return True
    return False


def clear(row: LoginThrottle) -> None:
    """A right secret ends the run of failures."""
    row.failures = 0
    row.locked_until = None


class WrongSecret(ValidationFailed):
    """A wrong secret typed by a signed-in user; the failure counted is committed with it."""


class SecretLocked(ValidationFailed):
    """Too many wrong secrets: refused, right or wrong, until the lock ends."""

    status = 429
    code = "locked"

    def __init__(self, field: str, locked_until: datetime, now: datetime):
        minutes = max(1, math.ceil((locked_until - now).total_seconds() / 60))
        super().__init__(
            {
                field: [
                    _l(
                        "Too many wrong attempts: wait %(minutes)d min before trying again.",
                        minutes=minutes,
                    )
                ]
            }
        )


def check_typed_secret(
    user: User,
    *,
    field: str,
    correct: Callable[[], bool],
    action: str,
    message: Message,
) -> None:
    """Check a secret a signed-in `user` typed (`correct()` says whether it is right).

    Locked: refused without looking (SecretLocked).  Wrong: counted, audited as
    `action`, and refused with `message` on `field` (WrongSecret), or SecretLocked when
    this failure locks.  Right: the run of failures ends and the caller goes on in the
    same transaction.  The count of a refusal is lasting (hub.operations.unit): the unit
    rolls the refused change back and keeps the count, so it is never lost with it.
    """
    row = throttle_row(user.username)
    now = utcnow()
    actor = Actor.for_user(user)
    username = user.username
    locked_until = row.locked_until
    if locked_until is not None and is_locked(row, now):
        lasting(lambda: _record(action, actor, {"locked": True}))
        raise SecretLocked(field, locked_until, now)
    if correct():
        clear(row)
        return
    limits = Limits.from_settings()

    def failed() -> bool:
        locked = count_failure(throttle_row(username), now, limits)  # read again after a rollback
        _record(action, actor, {"locked": locked})
        return locked

    if lasting(failed):
        raise SecretLocked(field, now + limits.lockout, now)
    raise WrongSecret.one(field, message)


def _record(action: str, actor: Actor, details: dict[str, Any]) -> None:
    audit.record(action, actor=actor, target_type="user", target_id=actor.user_id, details=details)
