"""Error pages and API errors: a generic translated message and the request id, nothing else.

No exception text, SQL, file path or stack trace ever reaches the caller.  The
request id is in the page, in the API envelope and in the ``X-Request-Id`` header,
and the same id is on the log line that holds the exception's type and frames
(hub.logging), so an administrator can find what happened from what a user reports.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from html import escape

from flask import Flask, Response, g, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from hub.errors import OperationError

log = logging.getLogger("hub.errors")

#: The API envelope's ``code`` for each status the hub answers with (README, JSON API);
#: a refused operation carries its own (``OperationError.code``). The one table: the
#: API's handlers (hub.api.errors) and the pages' handlers for /api/ paths both use it.
CODES = {
    400: "bad_request",
    401: "unauthorised",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "validation_failed",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


#: SQLite results meaning "the database cannot take this now" (full, locked, I/O), as
#: opposed to a bug such as a missing table.
_SQLITE_UNAVAILABLE = frozenset(
    {
        "SQLITE_FULL",
        "SQLITE_BUSY",
        "SQLITE_LOCKED",
        "SQLITE_IOERR",
        "SQLITE_READONLY",
        "SQLITE_CANTOPEN",
        "SQLITE_NOMEM",
    }
)
#: PostgreSQL SQLSTATE classes: connection (08), resources such as disk full (53),
#: operator intervention such as a shutdown (57).
_PG_UNAVAILABLE_CLASSES = ("08", "53", "57")


def database_unavailable(exc: OperationalError) -> bool:
    """Database down, locked past the busy timeout, or its disk full: the write failed
    cleanly (rolled back) and the caller may retry; reads keep working meanwhile."""
    orig = exc.orig
    name = getattr(orig, "sqlite_errorname", None)
    if name is not None:
        return any(name.startswith(code) for code in _SQLITE_UNAVAILABLE)
    sqlstate = getattr(orig, "sqlstate", None)
    return sqlstate is None or str(sqlstate)[:2] in _PG_UNAVAILABLE_CLASSES


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def messages() -> dict[int, str]:
    """The generic translated message for each status (pages and API alike)."""
    return {
        400: _("The request was not understood."),
        401: _("Please sign in."),
        403: _("You may not do this."),
        404: _("Not found."),
        405: _("This action is not allowed here."),
        409: _("This was changed by someone else. Reload and try again."),
        413: _("The upload is too large."),
        422: _("Some fields need correcting."),
        429: _("Too many attempts. Wait a moment and try again."),
        500: _("Something went wrong on our side. The error has been logged."),
        503: _("The service is unavailable for a moment. Try again shortly."),
    }


def envelope(
    status: int, errors: Mapping[str, object], code: str | None = None
) -> tuple[Response, int]:
    """The API's one error envelope, ``{"errors": {field: [messages]}, "code",
    "request_id"}``, as a response; ``code`` defaults to the status's in `CODES`."""
    body = {"errors": errors, "code": code or CODES.get(status, "error")}
    return jsonify({**body, "request_id": g.get("request_id", "")}), status


def _fallback_page(status: int, message: str, request_id: str) -> str:
    """Used when the error page itself cannot be rendered (e.g. the database is down)."""
    return (
        '<!doctype html><meta charset="utf-8"><title>{status}</title>'
        "<h1>{message}</h1><p>{label}: <code>{request_id}</code></p>"
    ).format(
        status=status,
        message=escape(message),
        label=escape(_("Request id")),
        request_id=escape(request_id),
    )


def render_error(status: int, message: str | None = None) -> ResponseReturnValue:
    message = message or messages().get(status) or messages()[500]
    request_id = g.get("request_id", "")
    if _wants_json():
        return envelope(status, {"_request": [message]})
    try:
        page = render_template("error.html", status=status, message=message, request_id=request_id)
    except Exception:
        log.exception("error page failed", extra={"request_id": request_id, "status": status})
        _rollback()
        page = _fallback_page(status, message, request_id)
    return page, status


def _rollback() -> None:
    # A unit that failed has rolled back already; this ends what a failed read left
    # open (PostgreSQL refuses every statement after an error until then), so the
    # error page can still read. The one place that does it is the unit of work.
    from hub.operations import unit

    if not unit.end_failed_transaction():
        log.warning("rollback failed", extra={"request_id": g.get("request_id")})


def register(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> ResponseReturnValue:
        return render_error(exc.code or 500)

    @app.errorhandler(OperationError)
    def _operation(exc: OperationError) -> ResponseReturnValue:
        return render_error(exc.status, str(exc.message))

    @app.errorhandler(OperationalError)
    def _database_error(exc: OperationalError) -> ResponseReturnValue:
        unavailable = database_unavailable(exc)
        log.error(
            "database unavailable" if unavailable else "unhandled error",
            exc_info=exc,
            extra={"request_id": g.get("request_id"), "endpoint": request.endpoint},
        )
        _rollback()
        return render_error(503 if unavailable else 500)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> ResponseReturnValue:
        # The log line carries the type, the frames and a database/OS error code,
        # never the exception's message (see hub.logging).
        log.error(
            "unhandled error",
            exc_info=exc,
            extra={"request_id": g.get("request_id"), "endpoint": request.endpoint},
        )
        _rollback()
        return render_error(500)
