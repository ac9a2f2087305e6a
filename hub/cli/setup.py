"""`hub init`, `hub demo`, `hub serve`."""

from __future__ import annotations

import secrets

import click
from flask import current_app
from flask_migrate import upgrade

from hub import database
from hub.cli.errors import one_line_errors
from hub.extensions import db

DEMO_ACCOUNTS = [
    ("qb.officer", "QB", "officer", "vi"),
    ("qb.supervisor", "QB", "supervisor", "vi"),
    ("km.officer", "KM", "officer", "lo"),
    ("km.supervisor", "KM", "supervisor", "lo"),
    ("sv.officer", "SV", "officer", "lo"),
    ("sv.supervisor", "SV", "supervisor", "lo"),
    ("admin", "QB", "admin", None),
]


def initialise() -> dict[str, int]:
    """Create or upgrade the schema, then load missing reference data."""
    from hub.operations.reference import load_reference_data

    database.check_schema_not_newer(db.engine)
    upgrade(directory=str(database.MIGRATIONS_DIR))
    added = load_reference_data()
    from hub.backup import ensure_hub_id

    ensure_hub_id()  # backups name the hub they belong to
    return added


@click.command("init")
@click.option(
    "--org",
    "orgs",
    multiple=True,
    help="Make keys only for this organisation (repeatable): the ones that live on this hub "
    "when partners run their own. Default: every organisation without keys here.",
)
@one_line_errors
def init_command(orgs: tuple[str, ...]) -> None:
    """Create or upgrade the database and load reference data (safe to run again)."""
    added = initialise()
    click.echo("Database ready. Added: " + ", ".join(f"{n} {kind}" for kind, n in added.items()))
    from hub.cli.keys import make_missing_keys

    make_missing_keys(list(orgs) or None)


def ensure_demo_accounts(password: str | None) -> list[tuple[str, str]]:
    """Create (or reset) the demo accounts; returns (username, password) pairs."""
    from sqlalchemy import select

    from hub.models import User
    from hub.operations import accounts
    from hub.operations.actor import SYSTEM

    made = []
    for username, org, role, language in DEMO_ACCOUNTS:
        secret = password or secrets.token_urlsafe(12)
        if db.session.scalar(select(User.id).where(User.username == username)) is None:
            accounts.add_user(
                SYSTEM,
                username=username,
                password=secret,
                organisation_code=org,
                role=role,
                language=language,
            )
        else:
            accounts.set_password(SYSTEM, username, secret)
        made.append((username, secret))
    return made


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Prepare the demo data, then exit.")
@one_line_errors
def demo_command(host: str, port: int, no_serve: bool) -> None:
    """Init, demo accounts and sample work, then serve."""
    from hub.operations import demo

    initialise()
    from hub.cli.keys import make_missing_keys

    make_missing_keys()
    settings = current_app.config["HUB"]
    accounts = ensure_demo_accounts(settings.demo_password)
    summary = demo.load_demo_data()
    click.echo("Demo data: " + ", ".join(f"{n} {kind}" for kind, n in summary.items()))
    click.echo("Demo accounts (username / password):")
    for username, password in accounts:
        click.echo(f"  {username:15} {password}")
    if not no_serve:
        serve(host, port)


def serve(host: str, port: int) -> None:
    from waitress import serve as waitress_serve

    from hub.operations import cosigning, delivery

    # the peers' outbox
    delivery.start_background(current_app._get_current_object())  # type: ignore[attr-defined]  # current_app is a LocalProxy
    # peers witness our logs
    cosigning.start_background(current_app._get_current_object())  # type: ignore[attr-defined]  # current_app is a LocalProxy
    settings = current_app.config["HUB"]
    click.echo(f"Serving BLO Hub on http://{host}:{port}/")
    waitress_serve(
        current_app._get_current_object(),  # type: ignore[attr-defined]  # current_app is a LocalProxy
        host=host,
        port=port,
        threads=settings.serve_threads,
        connection_limit=settings.serve_connection_limit,
        channel_timeout=settings.serve_channel_timeout,
        # waitress looks for stalled connections every 30 s by default: check often enough
        # that one is closed soon after HUB_SERVE_CHANNEL_TIMEOUT.
        cleanup_interval=max(1, min(30, settings.serve_channel_timeout // 2)),
    )


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@one_line_errors
def serve_command(host: str, port: int) -> None:
    """Serve the hub with waitress (a production WSGI server)."""
    database.check_schema_not_newer(db.engine)
    if database.current_revision(db.engine) != database.alembic_head():
        raise click.ClickException("the database is not initialised or not upgraded: run hub init")
    serve(host, port)


COMMANDS = (init_command, demo_command, serve_command)
