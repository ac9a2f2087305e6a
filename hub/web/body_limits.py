"""Per-endpoint request-body limits, applied before anything reads the body.

Flask's MAX_CONTENT_LENGTH is one figure for every route (an attachment plus a
margin). A sealed package carries its attachments base64-encoded and may be far
larger, so its endpoints declare their own limit with :func:`allows_body`. The
limit has to be set before CSRF protection or the NUL check parse the form:
``create_app`` registers :func:`apply` ahead of both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import current_app, request

View = TypeVar("View", bound=Callable[..., object])
_ATTRIBUTE = "hub_max_body_bytes"


def allows_body(limit: int) -> Callable[[View], View]:
    """Mark a view as accepting request bodies up to ``limit`` bytes."""

    def mark(view: View) -> View:
        setattr(view, _ATTRIBUTE, limit)
        return view

    return mark


def apply() -> None:
    """Raise (or lower) this request's body limit to its endpoint's declared one."""
    view = current_app.view_functions.get(request.endpoint or "")
    limit = getattr(view, _ATTRIBUTE, None)
    if limit is not None:
        request.max_content_length = limit
