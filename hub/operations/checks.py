"""Small input checks shared by the case and exchange operations.

Every check adds a translated message under the field's name; the operation
raises ValidationFailed once with all of them, so one submission reports
every problem at once and nothing is stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from hub.errors import Forbidden, ValidationFailed
from hub.extensions import db
from hub.models import Agreement, Organisation
from hub.models.base import utcnow
from hub.operations.actor import Actor
from hub.text import clean

#: Largest id any route or field accepts: beyond it nothing exists (and PostgreSQL's
#: integer would overflow), so it is "not found", never a server error.
MAX_ID = 2**31 - 1
#: Clock skew tolerated for a `sent_at` typed by a person on another machine.
CLOCK_SKEW = timedelta(minutes=5)
#: Nothing in the hub predates the first agreements it knows.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Errors(dict):
    """field -> [messages]."""

    def add(self, field: str, message) -> None:
        self.setdefault(field, []).append(message)

    def raise_if_any(self) -> None:
        if self:
            raise ValidationFailed(dict(self))


def require_officer(actor: Actor) -> None:
    """Writes are an officer's: supervisors read, administrators see no case data."""
    if not actor.is_officer or actor.organisation_id is None:
        raise Forbidden()


def valid_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def text(
    errors: Errors,
    field: str,
    value,
    *,
    max_length: int,
    required: bool = True,
    multiline: bool = False,
) -> str:
    """NFC, zero-width removed, stripped; refuses control characters (NUL breaks PostgreSQL)."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.add(field, _l("Enter text."))
        return ""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        errors.add(field, _l("The text holds characters that cannot be stored."))
        return ""
    value = clean(value).strip()
    checked = value.replace("\n", "").replace("\r", "").replace("\t", "") if multiline else value
    if _CONTROL.search(checked) or (not multiline and ("\n" in value or "\r" in value)):
        errors.add(field, _l("The text holds control characters."))
        return ""
    if required and not value:
        errors.add(field, _l("This field is required."))
    elif len(value) > max_length:
        errors.add(field, _l("Use at most %(n)d characters.", n=max_length))
    return value


def choice(errors: Errors, field: str, value, allowed) -> None:
    if value not in allowed:
        errors.add(
            field,
            _l("Choose one of: %(choices)s.", choices=", ".join(str(a) for a in allowed)),
        )


def when(errors: Errors, field: str, value: datetime | None, *, now: datetime) -> datetime:
    """A past (or present) moment, aware; at most a few minutes ahead of the hub's clock."""
    if value is None:
        return now
    if not isinstance(value, datetime) or value.tzinfo is None:
        errors.add(field, _l("Give a date and time with its time zone."))
        return now
    value = value.astimezone(UTC)
    if value > now + CLOCK_SKEW:
        errors.add(field, _l("This time is in the future."))
    elif value < EARLIEST:
        errors.add(field, _l("This time is too far in the past."))
    return value


#: Key in ``db.session.info`` of a run-wide {(model, code): row} memo (see `lookups_cached`).
LOOKUP_MEMO = "hub.checks.lookup_memo"


def _lookup(model, code: str):
    """The row with this code; memoised while `lookups_cached()` is active, so a bulk
    run (the importer) asks the database once per code instead of once per row."""
    memo = db.session.info.get(LOOKUP_MEMO)
    if memo is not None and (model, code) in memo:
        return memo[(model, code)]
    row = db.session.scalar(select(model).where(model.code == code))
    if memo is not None:
        memo[(model, code)] = row  # also holds the row strongly in the identity map
    return row


@contextmanager
def lookups_cached() -> Iterator[None]:
    """Memoise agreement and organisation lookups by code for one transaction that
    does not change them (an import run). The rules applied to the rows are unchanged."""
    db.session.info[LOOKUP_MEMO] = {}
    try:
        yield
    finally:
        db.session.info.pop(LOOKUP_MEMO, None)


def agreement_by_code(errors: Errors, field: str, code) -> Agreement | None:
    if not isinstance(code, str) or not code:
        errors.add(field, _l("This field is required."))
        return None
    row = _lookup(Agreement, code)
    if row is None:
        errors.add(field, _l("Unknown agreement."))
    return row


def organisation_by_code(errors: Errors, field: str, code) -> Organisation | None:
    if not isinstance(code, str) or not code:
        errors.add(field, _l("This field is required."))
        return None
    row = _lookup(Organisation, code)
    if row is None:
        errors.add(field, _l("Unknown organisation."))
    return row


def now() -> datetime:
    return utcnow()
