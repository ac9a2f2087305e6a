"""`hub backup -o FILE` and `hub restore FILE [--force]`."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import click
from flask import current_app

from hub import backup
from hub.backup import _
from hub.cli.errors import one_line_errors

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _backup_errors(func: Callable[_P, _R]) -> Callable[_P, _R]:
    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return func(*args, **kwargs)
        except backup.BackupError as exc:
            click.echo(f"hub: {exc}", err=True)
            sys.exit(1)

    return wrapper


@click.command("backup")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (replaced atomically if it exists).",
)
@one_line_errors
@_backup_errors
def backup_command(output: Path) -> None:
    """Back up the database while the hub runs (keys and passphrase are NOT included)."""
    manifest = backup.make_backup(current_app._get_current_object(), output)  # type: ignore[attr-defined]  # current_app is a LocalProxy
    click.echo(
        _(
            "Backup written to %(file)s: hub %(hub)s, schema %(schema)s, %(logs)s audit logs.",
            file=str(output),
            hub=manifest["hub_id"],
            schema=manifest["schema_version"],
            logs=len(manifest["logs"]),
        )
    )
    click.echo(
        _(
            "Back up the key folder separately, and keep the key passphrase apart from both: "
            "without them, sealed payloads cannot be opened."
        )
    )


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that already holds data.")
@one_line_errors
@_backup_errors
def restore_command(file: Path, force: bool) -> None:
    """Restore a backup into an empty database (stop the hub first)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # current_app is a LocalProxy
    manifest = backup.restore_backup(app, file, force=force)
    click.echo(
        _(
            "Restored hub %(hub)s as of %(time)s; %(logs)s audit logs match the backup and verify.",
            hub=manifest["hub_id"],
            time=manifest["created"],
            logs=len(manifest["logs"]),
        )
    )
    missing = backup.missing_keys(app, manifest)
    if missing:
        click.echo(
            _(
                "Warning: the key folder lacks keys the backed-up hub held (%(keys)s). "
                "Restore the key folder too, or sealed payloads will not open.",
                keys=", ".join(missing),
            ),
            err=True,
        )


COMMANDS = (backup_command, restore_command)
