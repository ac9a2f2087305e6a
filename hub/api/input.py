"""Reading a request's JSON body and query string through a schema.

A body that is not JSON, or not an object, is a 400 naming `_json`; a body
that breaks the schema is a 422 naming each field (marshmallow's errors, made
translatable in hub.api.schemas).
"""

from __future__ import annotations

import json

from flask import request
from flask_babel import lazy_gettext as _l
from marshmallow import Schema

from hub.errors import ValidationFailed


class MalformedBody(ValidationFailed):
    status = 400
    code = "malformed_json"


def json_object() -> dict:
    """The request body as a JSON object, or MalformedBody (400)."""
    if not request.mimetype or request.mimetype != "application/json":
        raise MalformedBody.one("_json", _l("Send a JSON object (Content-Type: application/json)."))
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedBody.one("_json", _l("The body is not valid JSON.")) from None
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
