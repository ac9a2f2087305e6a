"""View guards: who may open a page.  What they may see is decided in hub.operations."""

from __future__ import annotations

import functools

from flask import abort, g, redirect, request, url_for


def login_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if g.get("actor") is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


def role_required(*roles: str):
    def decorate(view):
        @functools.wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if g.actor.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorate
