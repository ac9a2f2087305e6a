"""One error envelope: {"errors": {field: [messages]}}, translated for the token's owner."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec

from flask import Response, g
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from hub.api import api
from hub.errors import OperationError, ValidationFailed
from hub.web.errors import envelope, messages

_P = ParamSpec("_P")


def error_response(
    status: int, errors: Mapping[str, object], code: str | None = None
) -> tuple[Response, int]:
    """The envelope (built in hub.web.errors, with its one table of codes)."""
    return envelope(status, errors, code)


def _stringify(errors: object) -> Any:
    if isinstance(errors, dict):
        return {str(k): _stringify(v) for k, v in errors.items()}
    if isinstance(errors, list | tuple):
        return [_stringify(e) if isinstance(e, dict) else str(e) for e in errors]
    return [str(errors)]


@api.errorhandler(ValidationFailed)
def _validation_failed(exc: ValidationFailed) -> ResponseReturnValue:
    # 422 for rule-breaking input; a subclass may say 400 (e.g. a body that is not JSON).
    return error_response(exc.status, _stringify(exc.errors), exc.code)


@api.errorhandler(ValidationError)
def _schema_invalid(exc: ValidationError) -> ResponseReturnValue:
    return error_response(422, _stringify(exc.messages), "validation_failed")


@api.errorhandler(OperationError)
def _operation(exc: OperationError) -> ResponseReturnValue:
    return error_response(exc.status, {"_request": [str(exc.message)]}, exc.code)


@api.errorhandler(HTTPException)
def _http(exc: HTTPException) -> ResponseReturnValue:
    status = exc.code or 500
    message = messages().get(status) or _("The request was not understood.")
    return error_response(status, {"_request": [message]})


def token_required(view: Callable[_P, ResponseReturnValue]) -> Callable[_P, ResponseReturnValue]:
    """401 unless a live bearer token identified the caller."""

    @functools.wraps(view)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> ResponseReturnValue:
        if g.get("actor") is None:
            return error_response(401, {"_request": [_("Please sign in.")]})
        return view(*args, **kwargs)

    return wrapper
