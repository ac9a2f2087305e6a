"""`hub user ...` and `hub token ...`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click
from flask_babel import force_locale
from sqlalchemy import select

from hub.cli.errors import one_line_errors
from hub.extensions import db
from hub.models import ApiToken, User
from hub.models.user import LANGUAGES, ROLES
from hub.operations import accounts
from hub.operations.actor import SYSTEM

_P = ParamSpec("_P")
_R = TypeVar("_R")


def in_english(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """The command line speaks the source language: no request is there to choose another.

    Outermost, so the one-line error is rendered inside it too.
    """

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with force_locale("en"):
            return func(*args, **kwargs)

    return wrapper


@click.group("user")
def user_group() -> None:
    """Manage accounts."""


@user_group.command("add")
@click.argument("username")
@click.option("--org", "organisation", required=True, help="Organisation code, e.g. QB.")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", "display_name", default=None)
@click.option("--language", type=click.Choice(LANGUAGES), default=None)
@click.password_option()
@in_english
@one_line_errors
def user_add(
    username: str,
    organisation: str,
    role: str,
    display_name: str | None,
    language: str | None,
    password: str,
) -> None:
    """Add an account."""
    accounts.add_user(
        SYSTEM,
        username=username,
        password=password,
        organisation_code=organisation,
        role=role,
        display_name=display_name,
        language=language,
    )
    click.echo(f"Added {username}.")


@user_group.command("list")
@in_english
@one_line_errors
def user_list() -> None:
    """List accounts."""
    for user in db.session.scalars(select(User).order_by(User.username)):
        state = "disabled" if user.disabled else "active"
        totp = "totp" if user.totp_enrolled else "-"
        click.echo(f"{user.username:20} {user.organisation.code:4} {user.role:11} {state:8} {totp}")


@user_group.command("disable")
@click.argument("username")
@in_english
@one_line_errors
def user_disable(username: str) -> None:
    """Disable an account and end its sessions."""
    accounts.disable_user(SYSTEM, username)
    click.echo(f"Disabled {username}; its sessions are ended.")


@user_group.command("set-password")
@click.argument("username")
@click.password_option()
@in_english
@one_line_errors
def user_set_password(username: str, password: str) -> None:
    """Set an account's password (ends its sessions and revokes its API tokens)."""
    accounts.set_password(SYSTEM, username, password)
    click.echo(f"Password set for {username}; its sessions ended and its API tokens are revoked.")


@user_group.command("enable")
@click.argument("username")
@in_english
@one_line_errors
def user_enable(username: str) -> None:
    """Enable a disabled account."""
    accounts.enable_user(SYSTEM, username)
    click.echo(f"Enabled {username}.")


@user_group.command("reset-totp")
@click.argument("username")
@in_english
@one_line_errors
def user_reset_totp(username: str) -> None:
    """Clear an account's second factor (lost phone); it must enrol again at next login."""
    accounts.reset_totp(SYSTEM, username)
    click.echo(f"Second factor cleared for {username}; its sessions are ended.")


@click.group("token")
def token_group() -> None:
    """Manage API bearer tokens."""


@token_group.command("create")
@click.argument("username")
@click.option("--label", default="")
@in_english
@one_line_errors
def token_create(username: str, label: str) -> None:
    """Print a new bearer token for USERNAME (shown once; only its hash is kept)."""
    click.echo(accounts.create_token(SYSTEM, username, label))


@token_group.command("list")
@click.argument("username")
@in_english
@one_line_errors
def token_list(username: str) -> None:
    """List a user's tokens (ids, not secrets)."""
    rows = db.session.scalars(
        select(ApiToken).join(User).where(User.username == username).order_by(ApiToken.id)
    )
    for row in rows:
        state = "revoked" if row.revoked_at else "active"
        click.echo(f"{row.id:6} {state:8} {row.created_at:%Y-%m-%d} {row.label}")


@token_group.command("revoke")
@click.argument("token_id", type=int)
@in_english
@one_line_errors
def token_revoke(token_id: int) -> None:
    """Revoke a token by id."""
    accounts.revoke_token(SYSTEM, token_id)
    click.echo(f"Revoked token {token_id}.")


COMMANDS = (user_group, token_group)
