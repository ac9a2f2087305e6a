"""`hub import cases FILE` and `hub import exchanges FILE`: history from spreadsheets.

Column layouts: schemas/import.md.  A file is stored whole or not at all;
`--dry-run` checks every row and stores nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from hub.cli.errors import one_line_errors
from hub.errors import NotFound
from hub.extensions import db
from hub.i18n import LOCALES
from hub.models import User
from hub.operations import imports
from hub.operations.actor import Actor


def _actor(username: str) -> Actor:
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None or user.disabled:
        raise NotFound(_l("No active account has this username."))
    return Actor.for_user(user)


def _report(path: Path, report: imports.ImportReport) -> None:
    for error in report.errors:
        click.echo(f"{path}:{error.line}: {error.field}: {error.message}", err=True)
    if report.errors:
        click.echo(
            f"{len(report.errors)} problem(s) in {report.rows} row(s); nothing stored.", err=True
        )
        raise SystemExit(1)
    rate = report.rows / report.seconds if report.seconds else 0.0
    if report.dry_run:
        click.echo(f"{report.rows} {report.kind} row(s) are good; nothing stored (dry run).")
    else:
        click.echo(
            f"Stored {report.stored} {report.kind} in {report.seconds:.1f} s ({rate:.0f} rows/s)."
        )


_file = click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
_user = click.option(
    "--user",
    "username",
    required=True,
    help="Officer the rows are recorded by; their organisation owns the cases and "
    "sent or received the exchanges.",
)
_dry = click.option("--dry-run", is_flag=True, help="Check every row, report, store nothing.")
_lang = click.option(
    "--language",
    type=click.Choice(LOCALES),
    default=None,
    help="Language of the messages (default: the user's).",
)


@click.group("import")
def import_group() -> None:
    """Import cases or exchanges from CSV or XLSX (see schemas/import.md)."""


@import_group.command("cases")
@_file
@_user
@_dry
@click.option(
    "--locale",
    type=click.Choice(LOCALES),
    default="en",
    show_default=True,
    help="How quantities typed as text are written (vi/lo: 2,5; en: 2.5).",
)
@_lang
def import_cases(
    file: Path, username: str, dry_run: bool, locale: str, language: str | None
) -> None:
    """Import cases owned by the user's organisation (with suspects and status)."""
    with force_locale(_language(username, language)):
        _run(imports.import_cases, file, username, dry_run=dry_run, locale=locale)


@import_group.command("exchanges")
@_file
@_user
@_dry
@_lang
def import_exchanges(file: Path, username: str, dry_run: bool, language: str | None) -> None:
    """Import exchanges sent or received by the user's organisation."""
    with force_locale(_language(username, language)):
        _run(imports.import_exchanges, file, username, dry_run=dry_run)


def _language(username: str, chosen: str | None) -> str:
    """Messages in the chosen language, else the user's, else English."""
    if chosen:
        return chosen
    user = db.session.scalar(select(User).where(User.username == username))
    return (user.language if user is not None else None) or "en"


@one_line_errors
def _run(
    function: Callable[..., imports.ImportReport], file: Path, username: str, **options: Any
) -> None:
    # Inside force_locale, so one_line_errors translates its messages too.
    actor = _actor(username)
    _report(file, function(actor, file, **options))


COMMANDS = [import_group]
