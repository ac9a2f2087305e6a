"""The input checks every face and every import shares: local input (API, pages, the
importer) and imported packages pass the same ones, before anything is stored.

Every check adds a translated message under the field's name; the operation
raises ValidationFailed once with all of them, so one submission reports
every problem at once and nothing is stored. Text hygiene (control and
bidirectional characters, NFC), whole numbers and flags, time and date bounds
and structured fields each have one rule here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from hub.errors import Forbidden, Message, ValidationFailed
from hub.extensions import db
from hub.models import Agreement, Organisation
from hub.models.base import utcnow
from hub.operations.actor import Actor
from hub.text import BIDI_CONTROLS, clean

#: Largest id any route or field accepts: beyond it nothing exists (and PostgreSQL's
#: integer would overflow), so it is "not found", never a server error.
MAX_ID = 2**31 - 1
#: Clock skew tolerated for a `sent_at` typed by a person on another machine.
CLOCK_SKEW = timedelta(minutes=5)
#: Nothing in the hub predates the first agreements it knows.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
#: Nothing the hub records falls due, or is dated, after this.
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
EARLIEST_DAY = EARLIEST.date()
LATEST_DAY = LATEST.date()
#: The earliest date of birth a person alive today can have.
EARLIEST_BIRTH = date(1900, 1, 1)
#: Structured fields sealed with an exchange: at most this many bytes and levels.
FIELDS_MAX_BYTES = 64 * 1024
FIELDS_MAX_DEPTH = 8
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Errors(dict[str, list[Message]]):
    """field -> [messages]."""

    def add(self, field: str, message: Message) -> None:
        self.setdefault(field, []).append(message)

    def raise_if_any(self) -> None:
        if self:
            raise ValidationFailed(dict(self))


def require_officer(actor: Actor) -> int:
    """Writes are an officer's: supervisors read, administrators see no case data.
    Returns the officer's organisation id."""
    if not actor.is_officer or actor.organisation_id is None:
        raise Forbidden()
    return actor.organisation_id


def valid_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def text(
    errors: Errors,
    field: str,
    value: object,
    *,
    max_length: int,
    required: bool = True,
    multiline: bool = False,
) -> str:
    """NFC, zero-width removed, stripped; refuses control characters (NUL breaks PostgreSQL)
    and bidirectional controls (U+202A-202E, U+2066-2069: "inv\u202egpj.exe" would show
    as "invexe.jpg")."""
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
    if BIDI_CONTROLS.search(value):
        errors.add(field, _l("The text holds control characters."))
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


def choice(errors: Errors, field: str, value: object, allowed: Collection[object]) -> None:
    if value not in allowed:
        errors.add(
            field,
            _l("Choose one of: %(choices)s.", choices=", ".join(str(a) for a in allowed)),
        )


def whole(errors: Errors, field: str, value: object, allowed: Collection[int]) -> int | None:
    """A whole number among `allowed` (a JSON true is not 1, "3" is not 3)."""
    if not isinstance(value, int) or isinstance(value, bool) or value not in allowed:
        errors.add(
            field,
            _l("Choose one of: %(choices)s.", choices=", ".join(str(a) for a in allowed)),
        )
        return None
    return value


def count(errors: Errors, field: str, value: object, *, maximum: int) -> int | None:
    """A whole number from 0 to `maximum` (sizes, counts)."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        errors.add(field, _l("Give a whole number from 0 to %(n)d.", n=maximum))
        return None
    return value


def flag(errors: Errors, field: str, value: object) -> bool:
    """A yes/no value that is really one (the string "yes" is not)."""
    if not isinstance(value, bool):
        errors.add(field, _l("Answer yes or no."))
        return False
    return value


def moment(
    errors: Errors,
    field: str,
    value: object,
    *,
    earliest: datetime = EARLIEST,
    latest: datetime = LATEST,
) -> datetime | None:
    """The one rule of time bounds: an aware moment from `earliest` to `latest`, in UTC.

    Every time the hub stores passes it (typed, sent through the API, imported
    from a file or from a partner's package), so no year 1 or 2099 reaches a list.
    """
    if not isinstance(value, datetime) or value.tzinfo is None:
        errors.add(field, _l("Give a date and time with its time zone."))
        return None
    try:
        value = value.astimezone(UTC)
    except (OverflowError, ValueError):  # year 1 with a positive offset, year 9999 west of UTC
        errors.add(field, _l("This time is too far in the past."))
        return None
    if value > latest:
        errors.add(field, _l("This time is in the future."))
        return None
    if value < earliest:
        errors.add(field, _l("This time is too far in the past."))
        return None
    return value


def when(errors: Errors, field: str, value: datetime | None, *, now: datetime) -> datetime:
    """A past (or present) moment, aware; at most a few minutes ahead of the hub's clock."""
    if value is None:
        return now
    checked = moment(errors, field, value, latest=now + CLOCK_SKEW)
    return checked if checked is not None else now


def day(
    errors: Errors,
    field: str,
    value: object,
    *,
    latest: date,
    earliest: date = EARLIEST_DAY,
    message: Message | None = None,
) -> date | None:
    """The one rule of date bounds: a calendar date from `earliest` to `latest` (None passes)."""
    if value is None:
        return None
    if not isinstance(value, date) or isinstance(value, datetime):
        errors.add(field, _l("Give a date."))
        return None
    if value > latest:
        errors.add(field, message or _l("This date is in the future."))
        return None
    if value < earliest:
        errors.add(field, message or _l("This date is too far in the past."))
        return None
    return value


def _strings(value: object) -> Iterator[str]:
    todo: list[object] = [value]
    while todo:
        node = todo.pop()
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            todo.extend(node.keys())
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)


def structured(errors: Errors, field: str, value: object) -> dict[str, Any]:
    """Structured fields sealed with an exchange: an object of JSON values, at most
    `FIELDS_MAX_DEPTH` levels and `FIELDS_MAX_BYTES` bytes, whose every key and text
    passes the text rule (no control or bidirectional characters)."""
    from hub.crypto import strict_json

    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.add(field, _l("Give the structured fields as an object."))
        return {}
    if strict_json.depth(value) > FIELDS_MAX_DEPTH:
        errors.add(
            field,
            _l("The structured fields nest too deeply (at most %(n)d levels).", n=FIELDS_MAX_DEPTH),
        )
        return {}
    try:
        encoded = json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (ValueError, TypeError, UnicodeEncodeError, RecursionError):
        errors.add(field, _l("The structured fields cannot be stored."))
        return {}
    if len(encoded) > FIELDS_MAX_BYTES:
        errors.add(field, _l("The structured fields are too large."))
        return {}
    for text_value in _strings(value):
        if (
            "\x00" in text_value
            or BIDI_CONTROLS.search(text_value)
            or _CONTROL.search(text_value.replace("\n", "").replace("\r", "").replace("\t", ""))
        ):
            errors.add(field, _l("The text holds control characters."))
            return {}
    return value


_Coded = TypeVar("_Coded", Agreement, Organisation)

#: Key in ``db.session.info`` of a run-wide {(model, code): row} memo (see `lookups_cached`).
LOOKUP_MEMO = "hub.checks.lookup_memo"


def _lookup(model: type[_Coded], code: str) -> _Coded | None:
    """The row with this code; memoised while `lookups_cached()` is active, so a bulk
    run (the importer) asks the database once per code instead of once per row."""
    memo = db.session.info.get(LOOKUP_MEMO)
    if memo is not None and (model, code) in memo:
        found: _Coded | None = memo[(model, code)]
        return found
    row: _Coded | None = db.session.scalar(select(model).where(model.code == code))
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


def agreement_by_code(errors: Errors, field: str, code: object) -> Agreement | None:
    if not isinstance(code, str) or not code:
        errors.add(field, _l("This field is required."))
        return None
    row = _lookup(Agreement, code)
    if row is None:
        errors.add(field, _l("Unknown agreement."))
    return row


def organisation_by_code(errors: Errors, field: str, code: object) -> Organisation | None:
    if not isinstance(code, str) or not code:
        errors.add(field, _l("This field is required."))
        return None
    row = _lookup(Organisation, code)
    if row is None:
        errors.add(field, _l("Unknown organisation."))
    return row


def now() -> datetime:
    return utcnow()
