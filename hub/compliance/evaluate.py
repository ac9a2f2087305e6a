"""Evaluate an agreement's obligations over a period: the report every face shows.

`evaluate()` runs a fixed, small number of aggregate queries: one pass over
the period's exchanges for the monthly series and every count the rules ask
for (hub/compliance/scan.py), then what a single pass cannot give (percentiles,
gaps between records, the bounded evidence) and the audit panel.  The rows it
fetches are the aggregates themselves and the bounded evidence.  It reads
plaintext metadata only, never a sealed payload.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    func,
    literal,
    select,
    text,
    union_all,
)
from sqlalchemy.sql.expression import ColumnElement

from hub.compliance.periods import Period, month_bounds
from hub.compliance.rules import (
    EVIDENCE_LIMIT,
    REQUEST_KINDS,
    Context,
    Evidence,
    Outcome,
    Tally,
    earliest,
    rule_for,
)
from hub.compliance.scan import agreement_kinds, scan
from hub.compliance.sql import (
    DAY,
    RESPONSE_MONTH_INDEX,
    around,
    as_seconds,
    is_postgresql,
    local_month,
    on_compliance_index,
    ranks,
    seconds_between,
    sortable,
)
from hub.extensions import db
from hub.models import Agreement, AuditLog, Exchange, Organisation
from hub.models.base import UTCDateTime, utcnow


@dataclass
class AuditPanel:
    log: str
    size: int
    verified_at: datetime | None
    verified_ok: bool | None
    verified_message: str | None
    checkpoint_size: int | None
    checkpoint_at: datetime | None

    @property
    def status(self) -> str:
        """never | ok | failed: what the last verification of the log found."""
        if self.verified_at is None:
            return "never"
        return "ok" if self.verified_ok else "failed"

    def as_dict(self) -> dict:
        return {
            "log": self.log,
            "size": self.size,
            "status": self.status,
            "verified_at": _iso(self.verified_at),
            "verified_message": self.verified_message,
            "checkpoint": None
            if self.checkpoint_size is None
            else {"size": self.checkpoint_size, "signed_at": _iso(self.checkpoint_at)},
        }


@dataclass
class Overdue:
    exchange_id: int
    sent_at: datetime
    deadline: datetime
    sender_id: int
    recipient_id: int
    days_overdue: float


@dataclass
class Report:
    agreement: Agreement
    period: Period
    partner: Organisation | None
    now: datetime
    outcomes: list[Outcome]
    # (month "YYYY-MM", sender_id, recipient_id, kind) -> count
    monthly: dict[tuple[str, int, int, str], int]
    # month -> {"median": days, "p90": days, "answered": n}
    response_monthly: dict[str, dict]
    response_limit_days: int | None
    overdue: list[Overdue]
    overdue_total: int
    audit: AuditPanel
    total_exchanges: int
    organisations: dict[int, Organisation] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.total_exchanges == 0

    def months(self) -> list[str]:
        return [f"{y:04d}-{m:02d}" for y, m in self.period.months()]

    def directions(self) -> list[tuple[int, int]]:
        return sorted({(s, r) for (_m, s, r, _k) in self.monthly})

    def kinds(self) -> list[str]:
        from hub.models.exchange import EXCHANGE_KINDS

        present = {k for (_m, _s, _r, k) in self.monthly}
        return [k for k in EXCHANGE_KINDS if k in present]

    def count(self, month: str, direction: tuple[int, int], kind: str) -> int:
        return self.monthly.get((month, direction[0], direction[1], kind), 0)

    def as_dict(self) -> dict:
        """The JSON shape of the API (and the CSV's source)."""
        codes = {o.id: o.code for o in self.organisations.values()}
        return {
            "agreement": self.agreement.code,
            "from": self.period.start.isoformat(),
            "to": self.period.end.isoformat(),
            "partner": self.partner.code if self.partner else None,
            "as_of": _iso(self.now),
            "obligations": [
                {
                    "kind": o.kind,
                    "params": o.params,
                    "state": o.state,
                    "figures": o.figures,
                    "evidence": [e.exchange_id for e in o.evidence],
                    "evidence_total": o.evidence_total,
                }
                for o in self.outcomes
            ],
            "exchanges": {
                "total": self.total_exchanges,
                "monthly": [
                    {
                        "month": m,
                        "sender": codes.get(s),
                        "recipient": codes.get(r),
                        "kind": k,
                        "count": n,
                    }
                    for (m, s, r, k), n in sorted(self.monthly.items())
                ],
            },
            "overdue": [o.exchange_id for o in self.overdue],
            "audit": self.audit.as_dict(),
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def evaluate(
    agreement: Agreement,
    period: Period,
    *,
    partner: Organisation | None = None,
    now: datetime | None = None,
) -> Report:
    """The report for `agreement` over `period`, optionally about one partner only.

    Access is the caller's business (hub.operations.compliance checks it).
    """
    now = now or utcnow()
    if db.engine.dialect.name == "postgresql":
        # percentile_cont sorts every value: in memory, not in temporary files.
        db.session.execute(text("SET LOCAL work_mem = '64MB'"))
        # psycopg prepares statements it has run five times, and PostgreSQL then
        # may settle on a generic plan that ignores how narrow the period is.
        db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        # JIT compiling the single pass's aggregates takes longer (0.1-0.2 s) than
        # it saves on a few hundred thousand rows.
        db.session.execute(text("SET LOCAL jit = off"))
    # SQLite's temp_store is set per connection (hub.database.configure_sqlite).
    parties = list(agreement.parties)
    ctx = Context(
        agreement=agreement,
        start=period.start_utc,
        end=period.end_utc,
        now=now,
        partner_id=partner.id if partner else None,
        party_ids=tuple(p.id for p in parties),
    )
    ctx.present = agreement_kinds(agreement.id)
    if not is_postgresql():
        ctx.kinds = ctx.present
    active = [
        (obligation, rule, dict(obligation.params or {}))
        for obligation in agreement.obligations
        for rule in [rule_for(obligation.kind)]
        if obligation.active and rule is not None
    ]
    # By obligation id, and the overdue list's count under _OVERDUE.
    tallies: dict[object, Tally] = {
        obligation.id: tally
        for obligation, rule, params in active
        for tally in [rule.tally(ctx, params)]
        if tally is not None
    }
    response = agreement.obligation("response_time")
    limit_days = int(response.params["days"]) if response is not None else None
    if limit_days is not None:
        tallies[_OVERDUE] = _overdue_tally(ctx, limit_days)
    months = _month_ranges(period)
    counted = scan(ctx, months, tallies)
    ctx.totals = counted.totals
    outcomes = [rule.evaluate(ctx, obligation.id, params) for obligation, rule, params in active]
    monthly = counted.monthly
    response_monthly = _response_monthly(ctx, months, counted.answered)
    overdue, overdue_total = _overdue(ctx, limit_days)
    organisations = {o.id: o for o in parties}
    return Report(
        agreement=agreement,
        period=period,
        partner=partner,
        now=now,
        outcomes=outcomes,
        monthly=monthly,
        response_monthly=response_monthly,
        response_limit_days=limit_days,
        overdue=overdue,
        overdue_total=overdue_total,
        audit=audit_panel(agreement),
        total_exchanges=sum(monthly.values()),
        organisations=organisations,
    )


#: (label, first UTC instant, first instant after) of a local month.
Month = tuple[str, datetime, datetime]


def _month_ranges(period: Period) -> list[Month]:
    """(label, first UTC instant, first instant after) of each local month in the period."""
    bounds = month_bounds(period)
    ends = [start for _label, start in bounds[1:]] + [period.end_utc]
    return [(label, start, end) for (label, start), end in zip(bounds, ends, strict=True)]


def _response_monthly(
    ctx: Context, months: list[Month], answered: dict[str, int]
) -> dict[str, dict[str, Any]]:
    """Median and 90th percentile of response days per local month of sending.

    `answered`: the answered requests per month, from the single pass."""
    elapsed = seconds_between(Exchange.sent_at, Exchange.answered_at)
    ps = (0.5, 0.9)

    def where(start: datetime, end: datetime) -> list[ColumnElement[bool]]:
        answered = Exchange.answered_at.is_not(None)
        return [*ctx.scope(*REQUEST_KINDS, between=(start, end)), answered]

    if is_postgresql():
        rows = db.session.execute(
            union_all(
                *(
                    select(
                        literal(label, String()),
                        func.count(),
                        *(func.percentile_cont(p).within_group(sortable(elapsed)) for p in ps),
                    ).where(*where(start, end))
                    for label, start, end in months
                )
            )
        )
        counts, values = {}, {}
        for label, n, *found in rows:
            if n:
                counts[label] = int(n)
                values[label] = {p: as_seconds(v) for p, v in zip(ps, found, strict=True)}
    else:
        counts = answered
        values = _sqlite_monthly_percentiles(elapsed, where, months, counts, ps)
    return {
        m: {
            "median": round(p[0.5] / DAY, 2),
            "p90": round(p[0.9] / DAY, 2),
            "answered": int(counts.get(m, 0)),
        }
        for m, p in sorted(values.items())
        if p[0.5] is not None and p[0.9] is not None  # both or neither
    }


def _sqlite_monthly_percentiles(
    elapsed: Any,
    where: Callable[[datetime, datetime], list[ColumnElement[bool]]],
    months: list[Month],
    counts: dict[str, int],
    ps: Sequence[float],
) -> dict[str, dict[float, float | None]]:
    """percentile_cont per month without percentile_cont: for each month and p, the one
    or two values at the ranks around (n - 1) * p (ORDER BY ... LIMIT/OFFSET over the
    month's few rows), in one UNION ALL statement; interpolated here."""
    parts, wanted = [], {}
    for label, start, end in months:
        n = counts.get(label)
        if not n:
            continue
        for index, p in enumerate(ps):
            wanted[(label, index)] = (p, ranks(n, p)[2])
            # The month's own range of the index by local month and response time.
            in_month = [*where(start, end), local_month(Exchange.sent_at) == label]
            ordered = around(elapsed, in_month, Exchange, n, p, RESPONSE_MONTH_INDEX)
            parts.append(
                select(
                    literal(label, String()).label("g"),
                    literal(index, Integer()).label("p"),
                    ordered.c.v,
                )
            )
    if not parts:
        return {}
    found: dict[tuple[str, int], list[float]] = {}
    for label, index, value in db.session.execute(union_all(*parts)):
        found.setdefault((label, index), []).append(float(value))
    out: dict[str, dict] = {}
    for (label, index), (p, fraction) in wanted.items():
        values = sorted(found.get((label, index), []))
        low, high = (values[0], values[-1]) if values else (0.0, 0.0)
        out.setdefault(label, {})[p] = low + (high - low) * fraction if values else None
    return out


#: The overdue list's count, among the single pass's tallies.
_OVERDUE = "overdue_now"


def _open_request() -> ColumnElement[bool]:
    return and_(Exchange.answered_at.is_(None), Exchange.status.in_(("sent", "acknowledged")))


def _overdue_tally(ctx: Context, limit_days: int) -> Tally:
    past = Exchange.sent_at < ctx.now - timedelta(days=limit_days)
    return Tally(kinds=REQUEST_KINDS, counts={"overdue": and_(_open_request(), past)})


def _overdue(ctx: Context, limit_days: int | None) -> tuple[list[Overdue], int]:
    """Requests still unanswered past their deadline now: the agreement's response
    time when it sets one (counted in the single pass), else the deadline the
    sender gave (due_at, not in the covering index: counted here)."""
    now = ctx.now
    open_ = [*ctx.scope(*REQUEST_KINDS), _open_request()]
    if limit_days is not None:
        limit = timedelta(days=limit_days)
        past = Exchange.sent_at < now - limit
        overdue_s = seconds_between(Exchange.sent_at, _now_literal(now)) - limit_days * DAY
    else:
        past = and_(Exchange.due_at.is_not(None), Exchange.due_at < now)
        overdue_s = seconds_between(Exchange.due_at, _now_literal(now))
    if limit_days is not None:
        total = ctx.totals[_OVERDUE]["overdue"]
    else:
        total = (
            db.session.scalar(on_compliance_index(select(func.count()).where(*open_, past))) or 0
        )
    columns = (
        Exchange.id,
        Exchange.sent_at,
        # Read only when needed: it is not in the covering index.
        (Exchange.due_at if limit_days is None else literal(None, UTCDateTime())).label("due"),
        Exchange.sender_id,
        Exchange.recipient_id,
        overdue_s.label("overdue_s"),
    )
    rows = earliest(ctx, REQUEST_KINDS, [_open_request(), past], columns, EVIDENCE_LIMIT)
    items = [
        Overdue(
            exchange_id=r[0],
            sent_at=r[1],
            deadline=(r[1] + timedelta(days=limit_days)) if limit_days is not None else r[2],
            sender_id=r[3],
            recipient_id=r[4],
            days_overdue=round(float(r[5]) / DAY, 1),
        )
        for r in rows
    ]
    return items, int(total)


def _now_literal(value: datetime) -> ColumnElement[datetime]:
    from sqlalchemy import literal

    from hub.models.base import UTCDateTime

    return literal(value, UTCDateTime())


def audit_panel(agreement: Agreement) -> AuditPanel:
    """The agreement log's size, last verification and latest signed checkpoint."""
    log = db.session.scalar(select(AuditLog).where(AuditLog.agreement_id == agreement.id))
    if log is None:
        log = db.session.scalar(select(AuditLog).where(AuditLog.name == agreement.code))
    if log is None:
        return AuditPanel(agreement.code, 0, None, None, None, None, None)
    from hub.audit.checkpoints import newest

    checkpoint = newest(db.session(), log.id)
    return AuditPanel(
        log=log.name,
        size=int(log.size),
        verified_at=log.last_verified_at,
        verified_ok=log.last_verified_ok,
        verified_message=log.last_verified_message,
        checkpoint_size=int(checkpoint.size) if checkpoint else None,
        checkpoint_at=checkpoint.signed_at if checkpoint else None,
    )


__all__ = ["AuditPanel", "Evidence", "Overdue", "Report", "evaluate"]
