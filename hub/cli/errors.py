"""Turning failures into one line a person can act on, and a non-zero exit."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from hub.database import SchemaError, damaged
from hub.errors import OperationError, ValidationFailed

_P = ParamSpec("_P")
_R = TypeVar("_R")


def one_line_errors(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """No tracebacks for expected failures: name the problem and exit non-zero."""

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            bad = damaged(exc, _database_path())
            if bad is None:
                raise
            click.echo(f"hub: {bad.line()}", err=True)
            sys.exit(2)

    return _known(wrapper)


def _database_path() -> str | None:
    from flask import current_app

    from hub.extensions import db

    return db.engine.url.database if current_app.config["HUB"].is_sqlite else None


def _known(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """The failures every verb shares, each as one line."""

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return func(*args, **kwargs)
        except ValidationFailed as exc:
            fields = "; ".join(
                f"{field}: {', '.join(str(m) for m in messages)}"
                for field, messages in exc.errors.items()
            )
            click.echo(f"hub: {fields}", err=True)
            sys.exit(1)
        except OperationError as exc:
            click.echo(f"hub: {exc.message}", err=True)
            sys.exit(1)
        except SchemaError as exc:
            click.echo(f"hub: {exc}", err=True)
            sys.exit(2)
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "unreachable"
            click.echo(
                f"hub: cannot use the database named by HUB_DATABASE_URL ({reason})", err=True
            )
            sys.exit(2)
        except SQLAlchemyError as exc:
            click.echo(f"hub: database error: {type(exc).__name__}", err=True)
            sys.exit(2)

    return wrapper
