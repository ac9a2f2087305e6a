"""Portable SQL pieces for the evaluation: durations, local months, percentiles.

Everything here builds SQL expressions; the database does the arithmetic and the
aggregation.  SQLite and PostgreSQL differ in date arithmetic and in percentiles
(PostgreSQL has `percentile_cont`; SQLite has none), so each piece compiles per
dialect.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Float, Integer, String, and_, case, cast, func, literal_column, or_, select
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


def percentiles(
    value: ColumnElement, where: Sequence[ColumnElement], source, ps: Sequence[float]
) -> dict[float, float | None]:
    """Continuous percentiles of `value` over the rows of `source` matching `where`.

    PostgreSQL: percentile_cont.  SQLite: rank the values with ROW_NUMBER and
    COUNT windows, then interpolate the ranks around (n - 1) * p, in the same
    query; only one row per percentile comes back.
    """
    if is_postgresql():
        columns = [
            func.percentile_cont(p).within_group(value).label(f"p{i}") for i, p in enumerate(ps)
        ]
        row = db.session.execute(select(*columns).select_from(source).where(*where)).one()
        return {p: (float(row[i]) if row[i] is not None else None) for i, p in enumerate(ps)}
    ranked = (
        select(
            value.label("v"),
            (func.row_number().over(order_by=value) - 1).label("i"),
            func.count().over().label("n"),
        )
        .select_from(source)
        .where(*where)
        .subquery()
    )
    columns = [
        _interpolated(
            (ranked.c.n - 1) * literal_column(repr(float(p))), ranked.c.i, ranked.c.v
        ).label(f"p{i}")
        for i, p in enumerate(ps)
    ]
    row = db.session.execute(select(*columns)).one()
    return {p: (float(row[i]) if row[i] is not None else None) for i, p in enumerate(ps)}


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
    ranked = (
        select(
            group.label("g"),
            value.label("v"),
            (func.row_number().over(partition_by=group, order_by=value) - 1).label("i"),
            func.count().over(partition_by=group).label("n"),
        )
        .select_from(source)
        .where(*where)
        .subquery()
    )
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
