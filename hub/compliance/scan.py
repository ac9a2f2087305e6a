"""One pass over the period's exchanges: the monthly series and the rules' counts.

Each figure used to be its own scan of the agreement's exchanges (the monthly
series, the acknowledgement and response aggregates, the answered requests per
month, the overdue count): at 1M exchanges every pass over the covering index
costs 0.05-0.5 s on SQLite.  Here one statement counts, per local month and
kind:

- the exchanges per direction: a conditional count per ordered pair of the
  agreement's parties (any other pair is found by a second, rarely needed query);
- the answered ones (the response chart's n);
- every rule's `Tally`: conditional counts and maxima (late, open, overdue ...).

The per-month rows are then added up here; what leaves the database is one
row per month and kind.

SQLite sorts whatever it groups unless the index delivers the groups in order.
So there: per local month one GROUP BY kind over that month's range of
ix_exchanges_compliance (agreement, kind, sent_at, ...), read kind by kind for
the kinds the agreement has: no sort at all.  The months are glued with UNION
ALL into one statement.  PostgreSQL: one hash aggregate by local month and kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, false, func, literal, not_, or_, select, text, union_all
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.selectable import CompoundSelect, Select

from hub.compliance.rules import REQUEST_KINDS, Context, Tally
from hub.compliance.sql import (
    as_seconds,
    is_postgresql,
    local_month,
    local_time,
    on_compliance_index,
)
from hub.extensions import db
from hub.models import Exchange


@dataclass
class Scan:
    # (month "YYYY-MM", sender_id, recipient_id, kind) -> count
    monthly: dict[tuple[str, int, int, str], int] = field(default_factory=dict)
    # month -> answered requests sent that month
    answered: dict[str, int] = field(default_factory=dict)
    # tally key -> {"total": n, count name: n, maximum name: value or None}
    totals: dict[object, dict] = field(default_factory=dict)


def agreement_kinds(agreement_id: int) -> tuple[str, ...]:
    """The distinct kinds of the agreement's exchanges, by a loose index scan: one
    index seek per kind (min(kind) above the last one) instead of reading them all."""
    rows = db.session.execute(
        text(
            "WITH RECURSIVE k(kind) AS ("
            " SELECT min(kind) FROM exchanges WHERE agreement_id = :a"
            " UNION ALL"
            " SELECT (SELECT min(kind) FROM exchanges WHERE agreement_id = :a AND kind > k.kind)"
            " FROM k WHERE k.kind IS NOT NULL"
            ") SELECT kind FROM k WHERE kind IS NOT NULL"
        ),
        {"a": agreement_id},
    )
    return tuple(r[0] for r in rows)


def _filter(tally: Tally) -> list:
    # The rows come per kind, and only those of the tally's kinds are added up
    # (scan() below), so naming the kinds again is only a shortcut: SQLite skips
    # the rest of the condition for other kinds; PostgreSQL, comparing text, is
    # faster without it.
    kinds = [Exchange.kind.in_(tally.kinds)] if tally.kinds and not is_postgresql() else []
    return [*kinds, *tally.where]


def scan(
    ctx: Context, months: Iterable[tuple[str, datetime, datetime]], tallies: dict[object, Tally]
) -> Scan:
    """Count everything over `ctx`'s period in one statement (see the module's doc)."""
    pairs = [(a, b) for a in ctx.party_ids for b in ctx.party_ids if a != b]
    columns: list = []
    shared: dict[str, int] = {}

    postgresql = is_postgresql()

    def column(aggregate: ColumnElement[Any]) -> int:
        """The aggregate's position among the columns.  On PostgreSQL, where the
        conditions do not name the kinds, an identical one (without parameters, so
        surely identical) is computed once; SQLite's always differ by their kinds."""
        key = f"#{len(columns)}"
        if postgresql:
            compiled = aggregate.compile(dialect=db.engine.dialect)
            key = key if compiled.params else str(compiled)
        if key not in shared:
            shared[key] = len(columns)
            columns.append(aggregate)
        return shared[key]

    # Conditional aggregates as FILTER clauses: both databases skip the aggregate
    # step for the rows that fail them (cheaper than count(CASE ...)).
    n_at = column(func.count())
    # FILTER, not count(answered_at): the aggregate step is skipped for the rows
    # without an answer (most of them: only requests are answered).
    answered_at = column(func.count().filter(Exchange.answered_at.is_not(None)))
    direction_at = [
        column(func.count().filter(and_(Exchange.sender_id == a, Exchange.recipient_id == b)))
        for a, b in pairs
    ]
    # (key, name, "count" | "max", kinds, column) for each tally figure; a tally's
    # total over whole kinds is the groups' count(*) (the rows are per kind).
    wanted: list[tuple[object, str, str, tuple[str, ...], int]] = []
    for key, tally in tallies.items():
        scope = _filter(tally)
        if tally.where:
            total = column(func.count().filter(and_(*scope)))
            wanted.append((key, "total", "count", tally.kinds, total))
        for name, condition in tally.counts.items():
            at = column(func.count().filter(and_(*scope, condition)))
            wanted.append((key, name, "count", tally.kinds, at))
        for name, value in tally.maxima.items():
            at = column(func.max(value).filter(and_(*scope)) if scope else func.max(value))
            wanted.append((key, name, "max", tally.kinds, at))

    if is_postgresql():
        # date_trunc, not to_char: formatting 400,000 timestamps costs more than
        # the rest of the aggregate (the label is made from the 60 results).
        month = func.date_trunc("month", local_time(Exchange.sent_at))
        statement: Select[*tuple[Any, ...]] | CompoundSelect[*tuple[Any, ...]] = (
            select(month, Exchange.kind, *columns)
            .where(*ctx.scope())
            .group_by(month, Exchange.kind)
        )
    else:
        statement = union_all(
            *(
                on_compliance_index(
                    select(literal(label, String()), Exchange.kind, *columns)
                    .where(*ctx.scope(between=(start, end)))
                    .group_by(Exchange.kind)
                )
                for label, start, end in months
            )
        )

    out = Scan(totals={key: {"total": 0} for key in tallies})
    for key, name, how, _kinds, _at in wanted:
        out.totals[key][name] = 0 if how == "count" else None
    whole_kinds = [(key, tally.kinds) for key, tally in tallies.items() if not tally.where]
    elsewhere = False  # exchanges between other than the parties' pairs
    for month, kind, *values in db.session.execute(statement):
        month_label = month if isinstance(month, str) else month.strftime("%Y-%m")
        n, answered = values[n_at], values[answered_at]
        directions = [values[at] for at in direction_at]
        for key, kinds in whole_kinds:
            if not kinds or kind in kinds:
                out.totals[key]["total"] += int(n)
        for pair, count in zip(pairs, directions, strict=True):
            if count:
                out.monthly[(month_label, *pair, kind)] = int(count)
        elsewhere = elsewhere or n > sum(directions)
        if kind in REQUEST_KINDS and answered:
            out.answered[month_label] = out.answered.get(month_label, 0) + int(answered)
        for key, name, how, kinds, at in wanted:
            value = values[at]
            if value is None or (kinds and kind not in kinds):
                continue
            found = out.totals[key]
            if how == "count":
                found[name] += int(value)
            else:
                seconds = as_seconds(value)
                found[name] = seconds if found[name] is None else max(found[name], seconds)
    if elsewhere:
        out.monthly.update(_other_directions(ctx, pairs))
    return out


def _other_directions(
    ctx: Context, pairs: Iterable[tuple[int, int]]
) -> dict[tuple[str, int, int, str], int]:
    """Exchanges per month, direction and kind between other than the parties' pairs."""
    known = or_(
        false(), *(and_(Exchange.sender_id == a, Exchange.recipient_id == b) for a, b in pairs)
    )
    month = local_month(Exchange.sent_at)
    columns = (month, Exchange.sender_id, Exchange.recipient_id, Exchange.kind)
    rows = db.session.execute(
        on_compliance_index(
            select(*columns, func.count()).where(*ctx.scope(), not_(known)).group_by(*columns)
        )
    )
    return {(m, s, r, k): int(n) for m, s, r, k, n in rows}


__all__ = ["Scan", "agreement_kinds", "scan"]
