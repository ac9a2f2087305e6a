"""Error pages: a generic translated message and the request id, nothing else."""

from __future__ import annotations

from flask import Flask, g, jsonify, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from hub.operations.errors import OperationError


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _messages() -> dict[int, str]:
    return {
        400: _("The request was not understood."),
        401: _("Please sign in."),
        403: _("You may not do this."),
        404: _("Not found."),
        405: _("This action is not allowed here."),
        413: _("The upload is too large."),
        422: _("Some fields need correcting."),
        429: _("Too many attempts. Wait a moment and try again."),
        500: _("Something went wrong on our side. The error has been logged."),
    }


def render_error(status: int, message: str | None = None):
    message = message or _messages().get(status, _messages()[500])
    request_id = g.get("request_id", "")
    if _wants_json():
        return jsonify(
            {"errors": {"_request": [message]}, "status": status, "request_id": request_id}
        ), status
    return render_template(
        "error.html", status=status, message=message, request_id=request_id
    ), status


def register(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return render_error(exc.code or 500)

    @app.errorhandler(OperationError)
    def _operation(exc: OperationError):
        return render_error(exc.status, str(exc.message))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unhandled error", extra={"request_id": g.get("request_id")})
        from hub.extensions import db

        db.session.rollback()
        return render_error(500)
