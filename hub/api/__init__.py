"""The JSON API under /api/v1: bearer tokens, one error envelope, marshmallow schemas."""

from __future__ import annotations

from flask import Blueprint

api = Blueprint("api", __name__, url_prefix="/api/v1")

# Route modules attach their views to `api` when imported.
from hub.api import audit, cases, compliance, errors, exchanges, openapi, reference  # noqa: E402,F401
