"""The server-rendered pages: thin views that parse, call an operation, render."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from hub.web import admin, auth, errors, home

    for blueprint in (auth.bp, home.bp, admin.bp):
        app.register_blueprint(blueprint)
    errors.register(app)
