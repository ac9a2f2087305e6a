"""View guards: who may open a page.  What they may see is decided in hub.operations."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec

from flask import abort, g, redirect, request, url_for
from flask.typing import ResponseReturnValue

_P = ParamSpec("_P")
View = Callable[_P, ResponseReturnValue]


def login_required(view: View[_P]) -> View[_P]:
    @functools.wraps(view)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> ResponseReturnValue:
        if g.get("actor") is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


def role_required(*roles: str) -> Callable[[View[_P]], View[_P]]:
    def decorate(view: View[_P]) -> View[_P]:
        @functools.wraps(view)
        @login_required
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> ResponseReturnValue:
            if g.actor.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorate
