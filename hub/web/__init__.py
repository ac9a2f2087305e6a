"""The server-rendered pages: thin views that parse, call an operation, render."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from hub.web import admin, auth, cases, errors, exchanges, home, labels

    for blueprint in (auth.bp, home.bp, admin.bp, cases.bp, exchanges.bp):
        app.register_blueprint(blueprint)
    from hub.web import compliance

    app.register_blueprint(compliance.bp)
    from hub.web import packages

    app.register_blueprint(packages.bp)
    from hub.web import audit

    app.register_blueprint(audit.bp)
    from hub.extensions import csrf
    from hub.web import peer_inbox, peers

    app.register_blueprint(peers.bp)

    app.register_blueprint(peer_inbox.bp)
    csrf.exempt(peer_inbox.bp)  # partner hubs sign each request instead
    errors.register(app)
    labels.register(app)
