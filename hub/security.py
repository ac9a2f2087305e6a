"""Per-request identity and the security headers every answer carries."""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import Flask, Response, abort, g, request
from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from hub.auth import sessions
from hub.auth.tokens import token_digest
from hub.extensions import db
from hub.models import ApiToken, User
from hub.models.base import utcnow
from hub.operations import accounts
from hub.operations.actor import Actor

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def _load_identity() -> None:
    g.request_id = secrets.token_hex(8)
    g.user = None
    g.actor = None
    g.session_row = None
    if request.path.startswith("/static/"):
        return
    if request.path.startswith("/api/"):
        load_bearer()
    else:
        _load_cookie()


def _load_cookie() -> None:
    from flask import current_app

    settings = current_app.config["HUB"]
    row = sessions.find_session(request.cookies.get(sessions.COOKIE))
    if row is None:
        return
    now = utcnow()
    idle = timedelta(minutes=settings.session_idle_minutes)
    if sessions.expired(
        row, now, idle=idle, absolute=timedelta(hours=settings.session_absolute_hours)
    ):
        accounts.end_expired_session(row, now)
        return
    if sessions.touch_due(row.last_seen_at, now):
        accounts.note_session_seen(row, now)
    g.session_row = row
    if not row.pending_totp:
        g.user = row.user
        g.actor = Actor.for_user(row.user)


def load_bearer() -> None:
    """Identify the caller from an ``Authorization: Bearer`` header, if it names a live
    token (sets ``g.actor``); anything else leaves the request anonymous."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return
    # Token, user and organisation in one query: the actor needs all three on every call.
    row = db.session.scalar(
        select(ApiToken)
        .join(ApiToken.user)
        .join(User.organisation)
        .where(ApiToken.token_hash == token_digest(token.strip()))
        .options(contains_eager(ApiToken.user).contains_eager(User.organisation))
    )
    if row is None or row.revoked_at is not None or row.user.disabled:
        return
    now = utcnow()
    if sessions.touch_due(row.last_used_at, now):
        accounts.note_token_used(row, now)
    g.user = row.user
    g.actor = Actor.for_user(row.user)


def _finish(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers["X-Request-Id"] = g.get("request_id", "")
    from flask import current_app

    if current_app.config["HUB"].production:
        headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    if g.get("user") is not None:
        headers.setdefault("Cache-Control", "no-store")
    return response


def _contains_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(v) for v in value)
    return False


def _refuse_nul() -> None:
    """400 for a NUL character in the path, the query or form fields.

    PostgreSQL text cannot hold NUL: left to the database it surfaces as a 500 on
    whatever route first binds it.  Uploaded files are bytes and are not looked at.
    """
    if "\x00" in request.path or _contains_nul(request.args.to_dict(flat=False)):
        abort(400)
    # JSON bodies are left to the API's schemas, which name the field (422).
    writes_form = request.method in ("POST", "PUT", "PATCH") and not request.is_json
    if writes_form and _contains_nul(request.form.to_dict(flat=False)):
        abort(400)


def init_app(app: Flask) -> None:
    app.before_request(_refuse_nul)
    app.before_request(_load_identity)
    app.after_request(_finish)
