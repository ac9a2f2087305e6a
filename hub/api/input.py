"""Reading a request's JSON body and query string through a schema.

A body that is not JSON (as hub.strict_json reads it: no key twice, no NaN, no
deep nesting), or not an object, is a 400 naming `_json`; a body
that breaks the schema is a 422 naming each field (marshmallow's errors, made
translatable in hub.api.schemas).
"""

from __future__ import annotations

from flask import request
from flask_babel import lazy_gettext as _l
from marshmallow import Schema

from hub.crypto import strict_json
from hub.errors import ValidationFailed

#: Why a body is refused (hub.strict_json's reasons), in the caller's language.
_REFUSED = {
    "syntax": _l("The body is not valid JSON."),
    "duplicate_key": _l("A field is given twice in the same object."),
    "constant": _l("The body is not valid JSON."),
    "too_deep": _l(
        "The body is nested too deeply (at most %(n)d levels).", n=strict_json.MAX_DEPTH
    ),
}


class MalformedBody(ValidationFailed):
    status = 400
    code = "malformed_json"


def json_object() -> dict:
    """The request body as a JSON object, or MalformedBody (400)."""
    if not request.mimetype or request.mimetype != "application/json":
        raise MalformedBody.one("_json", _l("Send a JSON object (Content-Type: application/json)."))
    raw = request.get_data(cache=True)
    try:
        data = strict_json.loads(raw)
    except strict_json.JSONRefused as exc:
        raise MalformedBody.one("_json", _REFUSED.get(exc.reason, _REFUSED["syntax"])) from None
    if not isinstance(data, dict):
        raise MalformedBody.one("_json", _l("Send a JSON object."))
    return data


def load_json(schema: Schema, *, partial: bool = False) -> dict:
    """The JSON body validated by `schema` (marshmallow ValidationError -> 422)."""
    return schema.load(json_object(), partial=partial)


def load_query(schema: Schema) -> dict:
    """The query string validated by `schema`; a repeated parameter is refused."""
    args = request.args
    data = {}
    for key in args:
        values = args.getlist(key)
        if len(values) > 1:
            raise ValidationFailed.one(key, _l("Give this parameter once."))
        data[key] = values[0]
    return schema.load(data)
