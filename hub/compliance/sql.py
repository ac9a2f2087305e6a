"""Portable SQL pieces for the evaluation: durations, local months, percentiles.

Everything here builds SQL expressions; the database does the arithmetic and the
aggregation.  SQLite and PostgreSQL differ in date arithmetic and in percentiles
(PostgreSQL has `percentile_cont`; SQLite has none), so each piece compiles per
dialect.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    Integer,
    String,
    func,
    literal,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ColumnElement, FunctionElement
from sqlalchemy.sql.selectable import Select, Subquery

from hub.extensions import db

_Statement = TypeVar("_Statement", bound=Select[*tuple[Any, ...]])

DAY = 86400.0
HOUR = 3600.0


class seconds_between(FunctionElement):
    """Seconds from the first timestamp to the second (NULL when either is NULL)."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: Any, compiler: SQLCompiler, **kw: Any) -> str:
    first, second = list(element.clauses)
    return (
        f"((julianday({compiler.process(second, **kw)}) - "
        f"julianday({compiler.process(first, **kw)})) * 86400.0)"
    )


@compiles(seconds_between, "postgresql")
def _seconds_postgresql(element: Any, compiler: SQLCompiler, **kw: Any) -> str:
    first, second = list(element.clauses)
    return (
        f"EXTRACT(EPOCH FROM ({compiler.process(second, **kw)} - {compiler.process(first, **kw)}))"
    )


class exceeds(FunctionElement):
    """True when more than `seconds` pass from the first timestamp to the second.

    PostgreSQL compares intervals: EXTRACT(EPOCH ...) is numeric there, and
    numeric arithmetic on every row of an aggregate costs more than the rest.
    """

    type = Boolean()
    inherit_cache = True
    name = "exceeds"


@compiles(exceeds, "sqlite")
def _exceeds_sqlite(element: Any, compiler: SQLCompiler, **kw: Any) -> str:
    first, second, seconds = list(element.clauses)
    return (
        f"((julianday({compiler.process(second, **kw)}) - "
        f"julianday({compiler.process(first, **kw)})) * 86400.0 > "
        f"{compiler.process(seconds, **kw)})"
    )


@compiles(exceeds, "postgresql")
def _exceeds_postgresql(element: Any, compiler: SQLCompiler, **kw: Any) -> str:
    first, second, seconds = list(element.clauses)
    return (
        f"(({compiler.process(second, **kw)} - {compiler.process(first, **kw)}) > "
        f"{compiler.process(seconds, **kw)} * interval '1 second')"
    )


class duration(FunctionElement):
    """From the first timestamp to the second: seconds on SQLite, an interval on
    PostgreSQL (see `exceeds`); `as_seconds` reads either."""

    inherit_cache = True
    name = "duration"


@compiles(duration, "sqlite")
def _duration_sqlite(element: Any, compiler: SQLCompiler, **kw: Any) -> str:
    return _seconds_sqlite(element, compiler, **kw)


@compiles(duration, "postgresql")
def _duration_postgresql(element: Any, compiler: SQLCompiler, **kw: Any) -> str:
    first, second = list(element.clauses)
    return f"({compiler.process(second, **kw)} - {compiler.process(first, **kw)})"


def sortable(value: ColumnElement) -> ColumnElement:
    """What PostgreSQL's percentile_cont sorts for a `seconds_between`: the interval
    itself, not the numeric EXTRACT(EPOCH ...) of every row (read with `as_seconds`)."""
    if isinstance(value, seconds_between):
        return duration(*value.clauses)
    return value


def as_seconds(value: Any) -> float | None:
    """A `duration` as fetched (seconds, or a timedelta from PostgreSQL), in seconds."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


class local_time(FunctionElement):
    """A UTC timestamp moved to local (UTC+7) wall-clock time (PostgreSQL)."""

    type = DateTime()
    inherit_cache = True
    name = "local_time"


@compiles(local_time, "postgresql")
def _local_time_postgresql(element: Any, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = list(element.clauses)
    return f"({compiler.process(value, **kw)} + interval '7 hours')"


class local_month(FunctionElement):
    """The local (UTC+7) month of a UTC timestamp, as "YYYY-MM"."""

    type = String()
    inherit_cache = True
    name = "local_month"


@compiles(local_month, "sqlite")
def _local_month_sqlite(element: Any, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = list(element.clauses)
    return f"strftime('%Y-%m', {compiler.process(value, **kw)}, '+7 hours')"


@compiles(local_month, "postgresql")
def _local_month_postgresql(element: Any, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = list(element.clauses)
    return f"to_char({compiler.process(value, **kw)} + interval '7 hours', 'YYYY-MM')"


def is_postgresql() -> bool:
    return db.engine.dialect.name == "postgresql"


def ranks(n: int, p: float) -> tuple[int, int, float]:
    """0-based ranks around percentile_cont's position (n - 1) * p, and the fraction."""
    position = (n - 1) * p
    lower = math.floor(position)
    return lower, min(lower + 1, n - 1), position - lower


def percentiles(
    value: ColumnElement[Any],
    where: Sequence[ColumnElement[bool]],
    source: Any,
    ps: Sequence[float],
    n: int | None = None,
    ordered_by: str | None = None,
) -> dict[float, float | None]:
    """Continuous percentiles (percentile_cont) of `value` over the matching rows.

    PostgreSQL: percentile_cont.  SQLite has none: one query ranks the values
    with ROW_NUMBER and returns only the (at most two per percentile) rows at
    the ranks around (n - 1) * p; the two are interpolated here.  `n`, the
    number of matching rows, comes from the caller's aggregate when it has it;
    `ordered_by`, an index in order of `value` (see `around`).
    """
    if not n and n is not None:
        return dict.fromkeys(ps)
    if is_postgresql():
        value = sortable(value)
        columns = [
            func.percentile_cont(p).within_group(value).label(f"p{i}") for i, p in enumerate(ps)
        ]
        row = db.session.execute(select(*columns).select_from(source).where(*where)).one()
        return {p: as_seconds(row[i]) for i, p in enumerate(ps)}
    if n is None:
        n = db.session.scalar(
            on_compliance_index(select(func.count()).select_from(source).where(*where))
        )
        if not n:
            return dict.fromkeys(ps)
    parts = [
        select(literal(index, Integer()).label("p"), sub.c.v)
        for index, p in enumerate(ps)
        for sub in [around(value, where, source, n, p, ordered_by)]
    ]
    found: dict[int, list[float]] = {}
    for index, v in db.session.execute(union_all(*parts)):
        found.setdefault(index, []).append(float(v))
    out: dict[float, float | None] = {}
    for index, p in enumerate(ps):
        values = sorted(found.get(index, []))
        fraction = ranks(n, p)[2]
        out[p] = values[0] + (values[-1] - values[0]) * fraction if values else None
    return out


def around(
    value: ColumnElement[Any],
    where: Sequence[ColumnElement[bool]],
    source: Any,
    n: int,
    p: float,
    index: str | None = None,
) -> Subquery:
    """A subquery of the one or two values at the ranks around (n - 1) * p.

    ORDER BY with LIMIT and OFFSET keeps only OFFSET + LIMIT rows in SQLite's
    sorter; from the nearer end (descending for the upper percentiles) that is
    a fraction of the rows instead of all of them.  Over an index in order of
    `value` itself (`index`, when the database has it) there is no sort at all:
    SQLite walks the index to the rank.
    """
    lower, upper, _fraction = ranks(n, p)
    if lower <= n - 1 - upper:
        order, offset = value, lower
    else:
        order, offset = value.desc(), n - 1 - upper
    statement = select(value.label("v")).select_from(source).where(*where)
    if index and has_index(index):
        statement = on_index(statement, index)
    else:
        statement = on_compliance_index(statement)
    return statement.order_by(order).limit(upper - lower + 1).offset(offset).subquery()


#: The covering index the evaluation reads (models/exchange.py).
COMPLIANCE_INDEX = "ix_exchanges_compliance"
#: SQLite only (migration 0004): answered exchanges in order of response time,
#: over the agreement / over the agreement and local month of sending.
RESPONSE_INDEX = "ix_exchanges_response_time"
RESPONSE_MONTH_INDEX = "ix_exchanges_response_month"
_indexes: dict[str, frozenset[str]] = {}


def clear_index_cache() -> None:
    """Forget which indexes each database has (hub.caches.reset_all)."""
    _indexes.clear()


def _sqlite_from_hint(self: SQLiteCompiler, table: object, text: str) -> str:
    return text


# SQLAlchemy's SQLite compiler drops FROM hints; SQLite's "INDEXED BY" is one.
# Only statements that ask for a "sqlite" hint (below) are affected.
# Replacing the method is the point; the compiler passes exactly these arguments.
SQLiteCompiler.get_from_hint_text = _sqlite_from_hint  # type: ignore[method-assign,assignment]


def has_index(name: str) -> bool:
    """Whether this SQLite database has the index on exchanges (False on PostgreSQL)."""
    engine = db.engine
    if engine.dialect.name != "sqlite":
        return False
    key = str(engine.url)
    if key not in _indexes:
        # sqlite_master, not the inspector: it lists indexes on expressions too.
        rows = db.session.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'exchanges'")
        )
        _indexes[key] = frozenset(r[0] for r in rows)
    return name in _indexes[key]


def on_index(statement: _Statement, name: str) -> _Statement:
    """Pin SQLite to the named index of exchanges (no-op elsewhere or if absent)."""
    from hub.models import Exchange

    if not has_index(name):
        return statement
    return statement.with_hint(Exchange.__table__, f"INDEXED BY {name}", "sqlite")


def on_compliance_index(statement: _Statement) -> _Statement:
    """Pin SQLite to the covering index.

    SQLite's planner, given statistics where one agreement holds most rows, may
    prefer a skip-scan of the sender index and then visit every wide row; the
    covering index answers every evaluation query from its own narrow entries.
    PostgreSQL chooses well by itself (and ignores the hint).
    """
    return on_index(statement, COMPLIANCE_INDEX)
