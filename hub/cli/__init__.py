"""The `hub` command.  Its verbs are registered on the app, so `flask --app hub ...` works too."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import FlaskGroup

from hub.config import ConfigError


def register(app: Flask) -> None:
    from hub.cli import backup, imports, setup, users

    for command in (*setup.COMMANDS, *users.COMMANDS, *backup.COMMANDS, *imports.COMMANDS):
        app.cli.add_command(command)
    from hub.cli import keys, packages, peers

    for command in (*keys.COMMANDS, *packages.COMMANDS, *peers.COMMANDS):
        app.cli.add_command(command)
    from hub.cli import audit, witness

    for command in (*audit.COMMANDS, *witness.COMMANDS):
        app.cli.add_command(command)
    from hub.api import openapi

    for command in openapi.COMMANDS:
        app.cli.add_command(command)


def main() -> None:
    """Entry point of the `hub` console script."""
    from hub import create_app

    try:
        app = create_app()
    except ConfigError as exc:
        click.echo(f"hub: configuration error: {exc}", err=True)
        sys.exit(2)
    group = FlaskGroup(
        create_app=lambda: app,
        add_default_commands=False,
        add_version_option=False,
        load_dotenv=False,
        set_debug_flag=False,
        help="BLO Hub: cross-border drug cases and intelligence exchanges.",
    )
    group.main(prog_name="hub")
