"""Reporting periods: month, quarter, year, ISO week, custom range, the programme.

A period is a range of local dates, both ends included.  Both parties' zones are
UTC+7 without daylight saving, so a local day maps to one fixed UTC interval and
both sides count the same days; weeks are ISO (Monday first) because `lo_LA`
starts weeks on Sunday and `vi` on Monday.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from flask_babel import lazy_gettext as _l

from hub.errors import ValidationFailed

#: Both parties' zone (Asia/Ho_Chi_Minh, Asia/Vientiane): UTC+7, no DST.
LOCAL = timezone(timedelta(hours=7))
#: The national drug-control programme period the agreements report against.
PROGRAMME = (date(2021, 1, 1), date(2025, 12, 31))
PERIOD_KINDS = ("month", "quarter", "year", "week", "programme", "custom")
#: Longest custom range accepted: bounds the monthly chart (and the work).
MAX_DAYS = 366 * 12

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # included
    kind: str = "custom"

    @property
    def start_utc(self) -> datetime:
        return datetime.combine(self.start, datetime.min.time(), LOCAL).astimezone(UTC)

    @property
    def end_utc(self) -> datetime:
        """The first instant after the period (exclusive bound)."""
        return datetime.combine(
            self.end + timedelta(days=1), datetime.min.time(), LOCAL
        ).astimezone(UTC)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def months(self) -> list[tuple[int, int]]:
        """(year, month) of every month the period touches, in order."""
        out = []
        year, month = self.start.year, self.start.month
        while (year, month) <= (self.end.year, self.end.month):
            out.append((year, month))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out


def month_bounds(period: Period) -> list[tuple[str, datetime]]:
    """("YYYY-MM", first UTC instant of that local month within the period) per month."""
    bounds = []
    for y, m in period.months():
        first = max(date(y, m, 1), period.start)
        start = datetime.combine(first, datetime.min.time(), LOCAL).astimezone(UTC)
        bounds.append((f"{y:04d}-{m:02d}", start))
    return bounds


def month(year: int, number: int) -> Period:
    first = date(year, number, 1)
    following = date(year + 1, 1, 1) if number == 12 else date(year, number + 1, 1)
    return Period(first, following - timedelta(days=1), "month")


def quarter(year: int, number: int) -> Period:
    if not 1 <= number <= 4:
        raise ValueError("quarter is 1..4")
    first = month(year, 3 * number - 2)
    last = month(year, 3 * number)
    return Period(first.start, last.end, "quarter")


def year(number: int) -> Period:
    return Period(date(number, 1, 1), date(number, 12, 31), "year")


def iso_week(year_number: int, week: int) -> Period:
    """ISO 8601 week: Monday to Sunday; week 1 holds the year's first Thursday."""
    monday = date.fromisocalendar(year_number, week, 1)
    return Period(monday, monday + timedelta(days=6), "week")


def programme() -> Period:
    return Period(*PROGRAMME, "programme")


#: Dates outside these are typing mistakes, not reporting periods.
EARLIEST, LATEST = date(1990, 1, 1), date(2100, 12, 31)


def custom(start: date, end: date) -> Period:
    """A range of days; refuses one that ends before it starts, or an enormous one."""
    for field, day in (("from", start), ("to", end)):
        if not EARLIEST <= day <= LATEST:
            raise ValidationFailed.one(field, _l("Give a date between 1990 and 2100."))
    if end < start:
        raise ValidationFailed.one("to", _l("The period ends before it starts."))
    if (end - start).days > MAX_DAYS:
        raise ValidationFailed.one("to", _l("The period is too long (at most 12 years)."))
    return Period(start, end, "custom")


def parse_date(value: str | None, field: str) -> date | None:
    """An ISO date (YYYY-MM-DD) or None when empty; anything else is a field error."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    try:
        if not _ISO_DATE.match(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed.one(
            field, _l("Not a valid date; write it as YYYY-MM-DD, e.g. 2025-03-31.")
        ) from None


def containing(kind: str, day: date) -> Period:
    """The month, quarter, year or ISO week holding `day`; the programme ignores the day."""
    if kind == "month":
        return month(day.year, day.month)
    if kind == "quarter":
        return quarter(day.year, (day.month - 1) // 3 + 1)
    if kind == "year":
        return year(day.year)
    if kind == "week":
        iso = day.isocalendar()
        return iso_week(iso.year, iso.week)
    if kind == "programme":
        return programme()
    raise ValidationFailed.one("period", _l("Unknown kind of period."))


def resolve(
    *,
    start: str | None = None,
    end: str | None = None,
    kind: str | None = None,
    anchor: str | None = None,
    today: date | None = None,
) -> Period:
    """The period a request asks for.

    An explicit range (from/to) wins; otherwise the `kind` of period containing
    `anchor` (default today); with nothing at all, the current year.  Errors are
    collected per field so a form can show them all.
    """
    today = today or datetime.now(LOCAL).date()
    if kind == "custom" or start or end:
        first = parse_date(start, "from")
        last = parse_date(end, "to")
        if first is None and last is None:
            raise ValidationFailed.one("from", _l("Give the first day of the period."))
        last = last or today
        first = first or date(last.year, 1, 1)
        return custom(first, last)
    if kind and kind not in PERIOD_KINDS:
        raise ValidationFailed.one("period", _l("Unknown kind of period."))
    day = parse_date(anchor, "on") or today
    if not EARLIEST <= day <= LATEST:
        raise ValidationFailed.one("on", _l("Give a date between 1990 and 2100."))
    return containing(kind or "year", day)
