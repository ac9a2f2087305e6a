"""Portable SQL pieces for the evaluation: durations, local months, percentiles.

Everything here builds SQL expressions; the database does the arithmetic and the
aggregation.  SQLite and PostgreSQL differ in date arithmetic and in percentiles
(PostgreSQL has `percentile_cont`; SQLite has none), so each piece compiles per
dialect.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sqlalchemy import (
    Float,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    inspect,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from hub.extensions import db

DAY = 86400.0
HOUR = 3600.0


class seconds_between(FunctionElement):
    """Seconds from the first timestamp to the second (NULL when either is NULL)."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element, compiler, **kw):
    first, second = list(element.clauses)
    return (
        f"((julianday({compiler.process(second, **kw)}) - "
        f"julianday({compiler.process(first, **kw)})) * 86400.0)"
    )


@compiles(seconds_between, "postgresql")
def _seconds_postgresql(element, compiler, **kw):
    first, second = list(element.clauses)
    return (
        f"EXTRACT(EPOCH FROM ({compiler.process(second, **kw)} - {compiler.process(first, **kw)}))"
    )


class local_month(FunctionElement):
    """'YYYY-MM' of a stored UTC time in UTC+7 (both parties' zone, no DST)."""

    type = String()
    inherit_cache = True
    name = "local_month"


@compiles(local_month, "sqlite")
def _month_sqlite(element, compiler, **kw):
    (value,) = list(element.clauses)
    return f"strftime('%Y-%m', {compiler.process(value, **kw)}, '+7 hours')"


@compiles(local_month, "postgresql")
def _month_postgresql(element, compiler, **kw):
    (value,) = list(element.clauses)
    return f"to_char({compiler.process(value, **kw)} + interval '7 hours', 'YYYY-MM')"


def is_postgresql() -> bool:
    return db.engine.dialect.name == "postgresql"


def _interpolated(position, index_column, value_column):
    """percentile_cont's linear interpolation between the two ranks around `position`.

    `position` is (n - 1) * p over 0-based ranks; the lower rank is its integer
    part (positions are never negative, so CAST truncation is floor), the upper
    one the next rank when there is a fraction.  When both coincide the weights
    are 1 and 0, so the row counts once.
    """
    lower = cast(position, Integer)
    fraction = position - lower
    return func.sum(
        case((index_column == lower, value_column * (1 - fraction)), else_=0)
        + case((index_column == lower + 1, value_column * fraction), else_=0)
    )


def _ranks(n: int, p: float) -> tuple[int, int, float]:
    """0-based ranks around percentile_cont's position (n - 1) * p, and the fraction."""
    position = (n - 1) * p
    lower = math.floor(position)
    return lower, min(lower + 1, n - 1), position - lower


def percentiles(
    value: ColumnElement,
    where: Sequence[ColumnElement],
    source,
    ps: Sequence[float],
    n: int | None = None,
) -> dict[float, float | None]:
    """Continuous percentiles (percentile_cont) of `value` over the matching rows.

    PostgreSQL: percentile_cont.  SQLite has none: one query ranks the values
    with ROW_NUMBER and returns only the (at most two per percentile) rows at
    the ranks around (n - 1) * p; the two are interpolated here.  `n`, the
    number of matching rows, comes from the caller's aggregate when it has it.
    """
    if not n and n is not None:
        return dict.fromkeys(ps)
    if is_postgresql():
        columns = [
            func.percentile_cont(p).within_group(value).label(f"p{i}") for i, p in enumerate(ps)
        ]
        row = db.session.execute(select(*columns).select_from(source).where(*where)).one()
        return {p: (float(row[i]) if row[i] is not None else None) for i, p in enumerate(ps)}
    if n is None:
        n = db.session.scalar(
            on_compliance_index(select(func.count()).select_from(source).where(*where))
        )
        if not n:
            return dict.fromkeys(ps)
    wanted = sorted({r for p in ps for r in _ranks(n, p)[:2]})
    ranked = on_compliance_index(
        select(
            value.label("v"),
            (func.row_number().over(order_by=value) - 1).label("i"),
        )
        .select_from(source)
        .where(*where)
    ).subquery()
    at = dict(
        db.session.execute(select(ranked.c.i, ranked.c.v).where(ranked.c.i.in_(wanted))).all()
    )
    out: dict[float, float | None] = {}
    for p in ps:
        lower, upper, fraction = _ranks(n, p)
        low, high = at.get(lower), at.get(upper)
        out[p] = None if low is None or high is None else low + (high - low) * fraction
    return out


def grouped_percentiles(
    value: ColumnElement,
    group: ColumnElement,
    where: Sequence[ColumnElement],
    source,
    ps: Sequence[float],
) -> dict[str, dict[float, float]]:
    """The same, per group (e.g. per local month): {group: {p: value}}."""
    if is_postgresql():
        columns = [
            func.percentile_cont(p).within_group(value).label(f"p{i}") for i, p in enumerate(ps)
        ]
        g = group.label("g")
        rows = db.session.execute(
            select(g, func.count().label("n"), *columns)
            .select_from(source)
            .where(*where)
            .group_by(g)
        )
        return {r[0]: {p: float(r[2 + i]) for i, p in enumerate(ps)} for r in rows}
    ranked = on_compliance_index(
        select(
            group.label("g"),
            value.label("v"),
            (func.row_number().over(partition_by=group, order_by=value) - 1).label("i"),
            func.count().over(partition_by=group).label("n"),
        )
        .select_from(source)
        .where(*where)
    ).subquery()
    columns = [
        _interpolated(
            (ranked.c.n - 1) * literal_column(repr(float(p))), ranked.c.i, ranked.c.v
        ).label(f"p{i}")
        for i, p in enumerate(ps)
    ]
    # Only the rows at the ranks around each percentile matter; the filter keeps
    # the outer aggregation small.
    near = [
        and_(
            ranked.c.i >= cast((ranked.c.n - 1) * literal_column(repr(float(p))), Integer),
            ranked.c.i <= cast((ranked.c.n - 1) * literal_column(repr(float(p))), Integer) + 1,
        )
        for p in ps
    ]
    rows = db.session.execute(select(ranked.c.g, *columns).where(or_(*near)).group_by(ranked.c.g))
    return {r[0]: {p: float(r[1 + i]) for i, p in enumerate(ps)} for r in rows}


def bucket(column: ColumnElement, bounds: Sequence[tuple[str, object]]) -> ColumnElement:
    """The label of the range `column` falls in: bounds = [(label, lower bound), ...] sorted.

    A balanced CASE tree (about log2(len) comparisons a row) instead of a date
    function: cheaper than strftime on SQLite, identical on both databases, and
    it puts days in local (UTC+7) months by comparing against UTC bounds.
    Values below the first bound take the first label; callers filter the range.
    """
    if len(bounds) == 1:
        # Kept an expression of the column: PostgreSQL refuses a bare constant in GROUP BY.
        label = literal_column(f"'{bounds[0][0]}'", String)
        return case((column.is_not(None), label), else_=label)
    return _tree(column, bounds)


def _tree(column: ColumnElement, bounds: Sequence[tuple[str, object]]) -> ColumnElement:
    if len(bounds) == 1:
        return literal_column(f"'{bounds[0][0]}'", String)
    middle = len(bounds) // 2
    return case(
        (
            column < bindparam(None, bounds[middle][1], type_=column.type),
            _tree(column, bounds[:middle]),
        ),
        else_=_tree(column, bounds[middle:]),
    )


#: The covering index the evaluation reads (models/exchange.py).
COMPLIANCE_INDEX = "ix_exchanges_compliance"
_index_present: dict[str, bool] = {}


def _sqlite_from_hint(self, table, text):
    return text


# SQLAlchemy's SQLite compiler drops FROM hints; SQLite's "INDEXED BY" is one.
# Only statements that ask for a "sqlite" hint (below) are affected.
SQLiteCompiler.get_from_hint_text = _sqlite_from_hint


def on_compliance_index(statement):
    """Pin SQLite to the covering index.

    SQLite's planner, given statistics where one agreement holds most rows, may
    prefer a skip-scan of the sender index and then visit every wide row; the
    covering index answers every evaluation query from its own narrow entries.
    PostgreSQL chooses well by itself (and ignores the hint).
    """
    from hub.models import Exchange

    engine = db.engine
    if engine.dialect.name != "sqlite":
        return statement
    key = str(engine.url)
    if key not in _index_present:
        _index_present[key] = COMPLIANCE_INDEX in {
            index["name"] for index in inspect(db.session.connection()).get_indexes("exchanges")
        }
    if not _index_present[key]:
        return statement
    return statement.with_hint(Exchange.__table__, f"INDEXED BY {COMPLIANCE_INDEX}", "sqlite")
