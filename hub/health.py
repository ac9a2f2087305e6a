"""GET /healthz for monitoring: is the database reachable, are the keys and catalogs there.

Anyone may ask, and an anonymous caller learns one word: ``{"status": "ok"}`` with
200, or ``{"status": "fail"}`` with 503.  Which check failed, and why, is shown
only to an administrator: signed in (session cookie) or calling with an
administrator's API token (``Authorization: Bearer …``), so a monitor can be given
a dedicated admin token.  Nothing here unlocks a key: unlocking costs a slow
Argon2 run on purpose, and an anonymous endpoint must not be a way to burn CPU.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from flask import Blueprint, Flask, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import text

from hub import database
from hub.extensions import db
from hub.operations import unit

bp = Blueprint("health", __name__)

#: Languages the interface must be able to speak.
REQUIRED_CATALOGS = ("vi", "lo")

log = logging.getLogger("hub.health")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def check_database() -> list[Check]:
    # Through the request's own session: on SQLite every transaction begins IMMEDIATE,
    # so a second connection from this thread would wait on this request's own lock.
    try:
        db.session.execute(text("SELECT 1"))
        revision = MigrationContext.configure(db.session.connection()).get_current_revision()
    except Exception as exc:  # any failure to reach the database is the answer itself
        log.warning("health check failed", exc_info=exc, extra={"check": "database"})
        _rollback()
        return [
            Check("database", False, _("The database cannot be reached.")),
            Check("schema", False, _("The database cannot be reached.")),
        ]
    head = database.alembic_head()
    schema = (
        Check("schema", True, revision or "")
        if revision == head
        else Check("schema", False, _("The database is not at the current schema: run hub init."))
    )
    return [Check("database", True, _("Reachable.")), schema]


def _rollback() -> None:
    if not unit.end_failed_transaction():  # the connection itself may be what failed
        log.warning("rollback failed", extra={"check": "database"})


def check_keys(app: Flask) -> Check:
    """The hub's own signing key and a passphrase to unlock it are present."""
    settings = app.config["HUB"]
    keys_dir = Path(settings.keys_dir)
    if not any((keys_dir / "_hub").glob("sign-v*.key.json")):
        return Check("keys", False, _("The hub's signing key is missing from the key folder."))
    from hub.app_keyring import KeysUnavailable, read_passphrase

    try:
        read_passphrase(settings)  # configured or the demo file: never made here
    except KeysUnavailable:
        return Check("keys", False, _("No key passphrase is configured."))
    return Check("keys", True, _("Present."))


def check_catalogs(app: Flask) -> Check:
    compiled = Path(app.config.get("BABEL_TRANSLATION_DIRECTORIES", ""))
    missing = [
        code
        for code in REQUIRED_CATALOGS
        if not (compiled / code / "LC_MESSAGES" / "messages.mo").is_file()
    ]
    if missing:
        return Check(
            "catalogs",
            False,
            _("Translations missing: %(languages)s.", languages=", ".join(missing)),
        )
    return Check("catalogs", True, _("Present."))


def run_checks(app: Flask) -> list[Check]:
    return [*check_database(), check_keys(app), check_catalogs(app)]


def _caller_is_admin() -> bool:
    if g.get("actor") is None and request.headers.get("Authorization"):
        # /healthz is outside /api/, where bearer tokens are read: read it here too.
        from hub.security import load_bearer

        try:
            load_bearer()
        except Exception:
            _rollback()
            return False
    actor = g.get("actor")
    return actor is not None and bool(getattr(actor, "is_admin", False))


@bp.route("/healthz")
def healthz() -> ResponseReturnValue:
    checks = run_checks(current_app)
    ok = all(check.ok for check in checks)
    for check in checks:
        if not check.ok:
            log.warning("health check failed", extra={"check": check.name})
    body: dict = {"status": "ok" if ok else "fail"}
    if _caller_is_admin():
        body["checks"] = {c.name: {"ok": c.ok, "detail": c.detail} for c in checks}
    response = jsonify(body)
    response.status_code = 200 if ok else 503
    response.headers["Cache-Control"] = "no-store"
    return response
