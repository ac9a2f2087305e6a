"""Turning failures into one line a person can act on, and a non-zero exit."""

from __future__ import annotations

import functools
import sys

import click
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from hub.database import SchemaError
from hub.errors import OperationError, ValidationFailed


def one_line_errors(func):
    """No tracebacks for expected failures: name the problem and exit non-zero."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
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
