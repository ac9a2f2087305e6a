"""Server-side sessions: the cookie carries a random id; the row decides whether it lives.

Disabling a user or logging out everywhere revokes rows, which ends the
session at the next request, something a signed cookie alone cannot do.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update

from hub.auth.tokens import new_token, token_digest
from hub.extensions import db
from hub.models import ApiToken, User, UserSession
from hub.models.base import utcnow

COOKIE = "hub_session"


def start_session(user: User, *, pending_totp: bool) -> str:
    """A fresh id at every login (no fixation); returns the cookie value."""
    token = new_token()
    db.session.add(
        UserSession(token_hash=token_digest(token), user_id=user.id, pending_totp=pending_totp)
    )
    return token


def find_session(token: str | None) -> UserSession | None:
    """The session row for a cookie value, if not revoked and its user not disabled.

    Reads only: ending an expired session and touching a live one's last-seen
    time are operations (hub.operations.accounts), called by hub.security.
    """
    if not token:
        return None
    row = db.session.scalar(
        select(UserSession).where(UserSession.token_hash == token_digest(token))
    )
    if row is None or row.revoked_at is not None or row.user.disabled:
        return None
    return row


def expired(row: UserSession, now: datetime, *, idle: timedelta, absolute: timedelta) -> bool:
    return now - row.last_seen_at > idle or now - row.created_at > absolute


def touch_due(last: datetime | None, now: datetime) -> bool:
    """Write a last-seen time at most once a minute: every request is not a write."""
    return last is None or now - last > timedelta(minutes=1)


def end_session(row: UserSession) -> None:
    row.revoked_at = utcnow()


def end_all_sessions(user_id: int) -> None:
    db.session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def end_all_access(user_id: int) -> int:
    """Every session and every API token of the user ends (a password reset, "log out
    everywhere"): whoever held any of them is out.  Returns how many tokens were revoked."""
    end_all_sessions(user_id)
    result = cast(
        CursorResult[Any],
        db.session.execute(
            update(ApiToken)
            .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
            .execution_options(synchronize_session=False)
        ),
    )
    return result.rowcount
