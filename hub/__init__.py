"""BLO Hub: cross-border drug cases and intelligence exchanges between the Quảng Bình BLO
and its partner provinces of Khammouane and Savannakhet."""

from __future__ import annotations

from flask import Flask

from hub.config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the application.  `settings` defaults to the environment (HUB_* variables)."""
    from hub import database, health, i18n, security
    from hub import logging as hub_logging
    from hub.extensions import babel, csrf, db, migrate
    from hub.operations import outbox, reference_cache, unit

    settings = settings or Settings.from_env()
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    app = Flask(
        __name__,
        instance_path=str(settings.instance_path),
        template_folder="web/templates",
        static_folder="web/static",
    )
    app.config.update(
        HUB=settings,
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=database.engine_options(settings.database_url),
        MAX_CONTENT_LENGTH=settings.max_attachment_bytes + 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.production,
        JSON_SORT_KEYS=False,
    )

    db.init_app(app)
    with app.app_context():
        if settings.is_sqlite:
            database.configure_sqlite(db.engine)
    migrate.init_app(app, db, directory=str(database.MIGRATIONS_DIR))
    from hub.web import body_limits

    app.before_request(body_limits.apply)  # before CSRF and the NUL check read the form
    csrf.init_app(app)
    i18n.init_app(app, babel)
    security.init_app(app)
    unit.init_app(app)
    # What every unit of work does besides its own writes (hub.operations.unit, "Steps").
    unit.add_steps(
        app,
        flushed=reference_cache.note_changes,
        before_commit=reference_cache.write_version,
        after_commit=reference_cache.forget_changes,
        after_rollback=reference_cache.forget_changes,
    )
    unit.add_steps(app, after_commit=outbox.wake_workers, after_rollback=outbox.forget_queued)
    hub_logging.init_app(app)  # after security: its request line knows the user

    from hub import cli, web
    from hub.api import api

    web.register(app)
    app.register_blueprint(api)
    app.register_blueprint(health.bp)
    csrf.exempt(api)  # the API authenticates with bearer tokens, never cookies
    cli.register(app)
    return app
