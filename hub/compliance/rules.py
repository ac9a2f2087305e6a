"""Obligation kinds: a registry, so a new kind plugs in without touching the others.

Each kind declares its parameters (validated when an administrator edits an
obligation) and evaluates one obligation over a period with SQL aggregates.
Only the evidence rows, bounded by EVIDENCE_LIMIT, ever leave the database as
rows; everything else comes back as a handful of aggregate values.

To add a kind: subclass `Rule`, set `kind`, `label`, `params`, implement
`evaluate`, decorate with `@register`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import and_, case, func, literal, or_, select, union_all
from sqlalchemy.engine import Row
from sqlalchemy.sql.elements import SQLColumnExpression
from sqlalchemy.sql.expression import ColumnElement

from hub.compliance.sql import (
    DAY,
    HOUR,
    RESPONSE_INDEX,
    as_seconds,
    duration,
    exceeds,
    on_compliance_index,
    percentiles,
    seconds_between,
)
from hub.extensions import db
from hub.models import Exchange
from hub.models.agreement import Agreement

STATES = ("met", "at_risk", "breached")
EVIDENCE_LIMIT = 50
REQUEST_KINDS = ("request", "permission_request")


@dataclass(frozen=True)
class Param:
    name: str
    label: object  # lazy string
    required: bool = True
    maximum: int = 3650


@dataclass
class Evidence:
    """One exchange that makes an obligation's state what it is."""

    exchange_id: int
    sent_at: datetime
    reason: str  # late | overdue | due_soon | gap | silence
    amount: float  # how late / how long, in `unit`
    unit: str  # days | hours
    party: str | None = None

    def note(self) -> str:
        """The evidence in words, e.g. "2 days late", in the reader's language."""
        rounded = round(self.amount, 1)
        # Plural rules take whole numbers; a fraction reads as plural ("1.5 days").
        n = int(rounded) if rounded == int(rounded) else 2
        num = _amount(self.amount)
        reason, hours = self.reason, self.unit == "hours"
        if reason == "late" and hours:
            return ngettext("%(count)s hour late", "%(count)s hours late", n, count=num)
        if reason == "late":
            return ngettext("%(count)s day late", "%(count)s days late", n, count=num)
        if reason == "overdue" and hours:
            return ngettext(
                "not acknowledged, %(count)s hour overdue",
                "not acknowledged, %(count)s hours overdue",
                n,
                count=num,
            )
        if reason == "overdue":
            return ngettext(
                "unanswered, %(count)s day overdue",
                "unanswered, %(count)s days overdue",
                n,
                count=num,
            )
        if reason == "due_soon" and hours:
            return ngettext(
                "not acknowledged, due in %(count)s hour",
                "not acknowledged, due in %(count)s hours",
                n,
                count=num,
            )
        if reason == "due_soon":
            return ngettext(
                "unanswered, due in %(count)s day",
                "unanswered, due in %(count)s days",
                n,
                count=num,
            )
        if reason == "gap":
            return ngettext(
                "%(count)s day after the previous one",
                "%(count)s days after the previous one",
                n,
                count=num,
            )
        # silence: nothing since the last record
        return ngettext(
            "none since, for %(count)s day", "none since, for %(count)s days", n, count=num
        )


def _amount(value: float) -> str:
    from flask_babel import format_decimal

    return format_decimal(round(value, 1), format="#,##0.#")


@dataclass
class Outcome:
    kind: str
    obligation_id: int
    params: dict
    state: str
    figures: dict
    evidence: list[Evidence] = field(default_factory=list)
    evidence_total: int = 0  # evidence rows in all, of which `evidence` holds the first ones


@dataclass
class Context:
    """What every rule evaluates against: one agreement, a period, maybe one partner."""

    agreement: Agreement
    start: datetime  # UTC, included
    end: datetime  # UTC, excluded
    now: datetime
    partner_id: int | None = None
    party_ids: tuple[int, ...] = ()
    #: The kinds the agreement's exchanges have, when known (SQLite: see
    #: hub/compliance/scan.py); a query about every kind then names them, so
    #: the covering index is read kind by kind over the period's range.
    kinds: tuple[str, ...] | None = None
    #: The kinds the agreement's exchanges have (both databases; see `earliest`).
    present: tuple[str, ...] = ()
    #: What evaluate()'s single pass counted for each tally (key -> name -> value).
    totals: dict = field(default_factory=dict)
    _clauses: dict = field(default_factory=dict, repr=False)

    @property
    def as_of(self) -> datetime:
        """The instant open items are judged at: now, or the period's end if that is past."""
        return max(min(self.now, self.end), self.start)

    @property
    def effective_start(self) -> datetime:
        """The period's start, or the agreement's entry into force when later."""
        from hub.compliance.periods import LOCAL

        if self.agreement.effective_from is None:
            return self.start
        begun = datetime.combine(self.agreement.effective_from, datetime.min.time(), LOCAL)
        return max(self.start, begun)

    def scope(
        self, *kinds: str, within: bool = True, between: tuple[datetime, datetime] | None = None
    ) -> list[ColumnElement[bool]]:
        """WHERE clauses: this agreement, these kinds, sent in the period, the partner.

        `within=False`: sent before the period's end (earlier records count too).
        `between=(start, end)`: sent in that part of the period instead, and only
        that range on sent_at, so the planner's index range is the narrow one.
        """
        # The clauses other than the time range are built once per kinds and reused
        # (a per-month statement has sixty parts: building them anew every time
        # cost more than running some of the queries).
        if (kinds, self.kinds) not in self._clauses:
            head = [Exchange.agreement_id == self.agreement.id]
            if kinds:
                head.append(
                    Exchange.kind.in_(kinds) if len(kinds) > 1 else Exchange.kind == kinds[0]
                )
            elif self.kinds is not None:
                head.append(Exchange.kind.in_(self.kinds))
            tail = []
            if self.partner_id is not None:
                tail.append(
                    or_(
                        Exchange.sender_id == self.partner_id,
                        Exchange.recipient_id == self.partner_id,
                    )
                )
            self._clauses[(kinds, self.kinds)] = (head, tail)
        head, tail = self._clauses[(kinds, self.kinds)]
        if between is not None:
            when = [Exchange.sent_at >= between[0], Exchange.sent_at < between[1]]
        elif within:
            when = [Exchange.sent_at >= self.start, Exchange.sent_at < self.end]
        else:
            when = [Exchange.sent_at < self.end]
        return [*head, *when, *tail]


@dataclass
class Tally:
    """What a rule wants counted in evaluate()'s single pass over the period's
    exchanges (hub/compliance/scan.py), instead of a scan of its own.

    The pass returns, under the rule's key: `total` (exchanges of `kinds`
    meeting `where`), for each of `counts` how many of those the condition
    holds for, and for each of `maxima` the largest value among them.
    """

    kinds: tuple[str, ...] = ()  # () for every kind
    where: list = field(default_factory=list)
    counts: dict[str, ColumnElement] = field(default_factory=dict)
    maxima: dict[str, ColumnElement] = field(default_factory=dict)


class Rule:
    kind: str = ""
    label: object = ""
    description: object = ""
    params: tuple[Param, ...] = ()
    #: The figures shown at a glance; every figure is in the full table.
    headline: tuple[str, ...] = ()

    def tally(self, ctx: Context, params: dict) -> Tally | None:
        """Counts for the single pass; the results reach `evaluate` in
        `ctx.totals[obligation_id]`.  None: the rule queries on its own."""
        return None

    def evaluate(self, ctx: Context, obligation_id: int, params: dict) -> Outcome:
        raise NotImplementedError

    def describe(self, params: dict) -> str:
        return str(self.label)


REGISTRY: dict[str, Rule] = {}


def register(cls: type[Rule]) -> type[Rule]:
    REGISTRY[cls.kind] = cls()
    return cls


def rule_for(kind: str) -> Rule | None:
    return REGISTRY.get(kind)


def _state(breached: bool, at_risk: bool) -> str:
    return "breached" if breached else "at_risk" if at_risk else "met"


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _round(value: Any, unit: float) -> float | None:
    return None if value is None else round(float(value) / unit, 2)


class _DeadlineRule(Rule):
    """Items that must be closed (answered, acknowledged) within a limit of their sending."""

    unit_name = "days"
    unit = DAY
    kinds: tuple[str, ...] = ()
    limit_param = "days"
    warning_param = "warning_days"
    headline: tuple[str, ...] = (
        "on_time_rate",
        "late",
        "overdue",
        "due_soon",
        "median_days",
        "p90_days",
    )
    #: Median and 90th percentile: a sort of every value, so only where they are asked for.
    with_percentiles = True
    #: An index in order of the elapsed time, if the database has one (SQLite).
    percentile_index: str | None = None

    def done_at(self) -> SQLColumnExpression[Any]:
        raise NotImplementedError

    def open_clause(self) -> ColumnElement[bool]:
        raise NotImplementedError

    def extra_scope(self, ctx: Context) -> list:
        return []

    def _terms(self, ctx: Context, params: dict) -> dict:
        limit_s = float(params[self.limit_param]) * self.unit
        warning_s = float(params.get(self.warning_param) or 0) * self.unit
        done = self.done_at()
        elapsed = seconds_between(Exchange.sent_at, done)
        # Deadline = sent_at + limit; "past due at as_of" is sent_at < as_of - limit, a
        # bound on the indexed column rather than arithmetic on every row.
        overdue_before = ctx.as_of - timedelta(seconds=limit_s)
        soon_before = overdue_before + timedelta(seconds=warning_s)
        is_open = self.open_clause()
        answered = done.is_not(None)
        return {
            "limit_s": limit_s,
            "elapsed": elapsed,
            "answered": answered,
            "late": and_(answered, exceeds(Exchange.sent_at, done, literal(limit_s))),
            "duration": duration(Exchange.sent_at, done),
            "overdue": and_(is_open, Exchange.sent_at < overdue_before),
            "due_soon": and_(
                is_open, Exchange.sent_at >= overdue_before, Exchange.sent_at < soon_before
            ),
            "open": is_open,
        }

    def tally(self, ctx: Context, params: dict) -> Tally:
        terms = self._terms(ctx, params)
        return Tally(
            kinds=self.kinds,
            where=self.extra_scope(ctx),
            # Most items are closed: counting the few still without `done` (and
            # subtracting) lets the aggregate skip most rows.
            counts={
                "not_done": self.done_at().is_(None),
                **{name: terms[name] for name in ("late", "open", "overdue", "due_soon")},
            },
            # The longest time only where percentiles are wanted too (see below).
            maxima={"longest": terms["duration"]} if self.with_percentiles else {},
        )

    def evaluate(self, ctx: Context, obligation_id: int, params: dict) -> Outcome:
        terms = self._terms(ctx, params)
        limit_s, elapsed, answered = terms["limit_s"], terms["elapsed"], terms["answered"]
        late, overdue, due_soon = terms["late"], terms["overdue"], terms["due_soon"]
        where = ctx.scope(*self.kinds) + self.extra_scope(ctx)
        counts = ctx.totals[obligation_id]
        total, done_n, late_n, open_n, overdue_n, soon_n, longest = (
            int(counts["total"]),
            int(counts["total"]) - int(counts["not_done"]),
            int(counts["late"]),
            int(counts["open"]),
            int(counts["overdue"]),
            int(counts["due_soon"]),
            as_seconds(counts.get("longest")),
        )
        on_time = done_n - late_n
        unit = self.unit_name
        figures = {
            "total": total,
            "answered": done_n,
            "on_time": on_time,
            "late": late_n,
            "open": open_n,
            "overdue": overdue_n,
            "due_soon": soon_n,
            "on_time_rate": _rate(on_time, done_n + overdue_n),
        }
        if self.with_percentiles:
            pct = percentiles(
                elapsed,
                [*where, answered],
                Exchange,
                (0.5, 0.9),
                n=done_n,
                ordered_by=self.percentile_index,
            )
            figures[f"median_{unit}"] = _round(pct[0.5], self.unit)
            figures[f"p90_{unit}"] = _round(pct[0.9], self.unit)
            figures[f"longest_{unit}"] = _round(longest, self.unit)
        figures[f"limit_{unit}"] = params[self.limit_param]
        counts_by_reason = {"overdue": overdue_n, "late": late_n, "due_soon": soon_n}
        evidence = self._evidence(
            ctx, where, elapsed, late, overdue, due_soon, limit_s, counts_by_reason
        )
        return Outcome(
            kind=self.kind,
            obligation_id=obligation_id,
            params=params,
            state=_state(late_n + overdue_n > 0, soon_n > 0),
            figures=figures,
            evidence=evidence,
            evidence_total=late_n + overdue_n + soon_n,
        )

    def _evidence(
        self,
        ctx: Context,
        where: list[ColumnElement[bool]],
        elapsed: ColumnElement[Any],
        late: ColumnElement[bool],
        overdue: ColumnElement[bool],
        due_soon: ColumnElement[bool],
        limit_s: float,
        counts: Any,
    ) -> list[Evidence]:
        """Overdue first (most overdue first), then late answers (latest first), then due soon."""
        as_of_age = seconds_between(Exchange.sent_at, _bind_time(ctx.as_of))
        found: list[Evidence] = []
        queries = (
            ("overdue", overdue, as_of_age - limit_s, None),
            ("late", late, elapsed - limit_s, (elapsed - limit_s).desc()),
            ("due_soon", due_soon, limit_s - as_of_age, None),
        )
        for reason, clause, amount, order in queries:
            room = EVIDENCE_LIMIT - len(found)
            if room <= 0:
                break
            if not counts[reason]:
                continue  # the aggregate already said there is none: no scan
            columns = (Exchange.id, Exchange.sent_at, amount.label("amount"))
            if order is None:  # the oldest first
                extra = [*self.extra_scope(ctx), clause]
                rows = earliest(ctx, self.kinds, extra, columns, room)
            else:
                rows = db.session.execute(
                    on_compliance_index(
                        select(*columns)
                        .where(*where, clause)
                        .order_by(order, Exchange.id)
                        .limit(room)
                    )
                ).all()
            found += [
                Evidence(row[0], row[1], reason, float(row[2]) / self.unit, self.unit_name)
                for row in rows
            ]
        return found


def earliest(
    ctx: Context,
    kinds: tuple[str, ...],
    where: list[ColumnElement[bool]],
    columns: Sequence[Any],
    limit: int,
) -> Sequence[Row[*tuple[Any, ...]]]:
    """The first `limit` of the period's exchanges of `kinds` (() for all) meeting
    `where`, in order of sending (then id).  `columns` include Exchange.id and
    Exchange.sent_at.

    The covering index (agreement, kind, sent_at, ...) holds each kind in order
    of sending; over several kinds one query has to sort every match (400,000
    for the acknowledgements).  So: one query per kind that stops after `limit`
    matches, merged by UNION ALL and a sort of at most kinds x limit rows.
    """
    kinds = kinds or ctx.present
    order = (Exchange.sent_at, Exchange.id)
    if len(kinds) < 2:
        statement = select(*columns).where(*ctx.scope(*kinds), *where).order_by(*order)
        return db.session.execute(on_compliance_index(statement.limit(limit))).all()
    parts = [
        on_compliance_index(
            select(*columns).where(*ctx.scope(kind), *where).order_by(*order).limit(limit)
        ).subquery()
        for kind in kinds
    ]
    merged = union_all(*(select(part) for part in parts)).subquery()
    statement = select(merged).order_by(merged.c.sent_at, merged.c.id).limit(limit)
    return db.session.execute(statement).all()


def _bind_time(value: datetime) -> ColumnElement[datetime]:
    from sqlalchemy import literal

    from hub.models.base import UTCDateTime

    return literal(value, UTCDateTime())


@register
class ResponseTime(_DeadlineRule):
    kind = "response_time"
    label = _l("Requests answered in time")
    description = _l("Each request is answered within the given number of days of its sending.")
    params = (
        Param("days", _l("Days to answer")),
        Param("warning_days", _l("Warning window (days before the deadline)"), required=False),
    )
    kinds = REQUEST_KINDS
    percentile_index = RESPONSE_INDEX

    def done_at(self) -> SQLColumnExpression[Any]:
        return Exchange.answered_at

    def open_clause(self) -> ColumnElement[bool]:
        return and_(Exchange.answered_at.is_(None), Exchange.status.in_(("sent", "acknowledged")))


@register
class AcknowledgeTime(_DeadlineRule):
    kind = "acknowledge_time"
    label = _l("Receipts acknowledged in time")
    description = _l("Each exchange received is acknowledged within the given number of hours.")
    params = (
        Param("hours", _l("Hours to acknowledge"), maximum=24 * 365),
        Param(
            "warning_hours",
            _l("Warning window (hours before the deadline)"),
            required=False,
            maximum=24 * 365,
        ),
    )
    unit_name = "hours"
    unit = HOUR
    headline = ("on_time_rate", "late", "overdue", "due_soon")
    # Every exchange is acknowledged: sorting them all for a median costs more than
    # the rest of the evaluation together, and the on-time rate says what matters.
    with_percentiles = False
    limit_param = "hours"
    warning_param = "warning_hours"

    def done_at(self) -> SQLColumnExpression[Any]:
        # Answering a request acknowledges it too.
        return func.coalesce(Exchange.acknowledged_at, Exchange.answered_at)

    def open_clause(self) -> ColumnElement[bool]:
        return and_(
            Exchange.acknowledged_at.is_(None),
            Exchange.answered_at.is_(None),
            Exchange.status == "sent",
        )


class _IntervalRule(Rule):
    """Records of one kind that must follow each other at most N days apart."""

    record_kind = ""
    per_sender = False
    headline = ("records", "longest_gap_days", "gaps_over", "days_since_last")

    def evaluate(self, ctx: Context, obligation_id: int, params: dict) -> Outcome:
        limit_s = float(params["days"]) * DAY
        warning_s = float(params.get("warning_days") or 0) * DAY
        partition = [Exchange.sender_id] if self.per_sender else []
        # The gap to the previous record counts records before the period too, so
        # the first record in the period is judged against the last one before it.
        previous = func.lag(Exchange.sent_at).over(
            partition_by=partition or None, order_by=(Exchange.sent_at, Exchange.id)
        )
        # The gap is computed once per record, in the window's query: the outer
        # queries use it three times (SQLite would otherwise recompute it each time).
        ranked = on_compliance_index(
            select(
                Exchange.id.label("id"),
                Exchange.sender_id.label("sender_id"),
                Exchange.sent_at.label("sent_at"),
                seconds_between(previous, Exchange.sent_at).label("gap"),
            ).where(
                *ctx.scope(self.record_kind, within=False),
                Exchange.sent_at >= self._window_start(ctx),
            )
        ).subquery()
        gap = ranked.c.gap
        in_period = ranked.c.sent_at >= ctx.start
        counts = db.session.execute(
            select(
                func.count(),
                func.max(gap),
                func.count(case((gap > limit_s, 1))),
            ).where(in_period)
        ).one()
        records, longest, gaps_over = int(counts[0]), counts[1], int(counts[2] or 0)
        evidence_rows = (
            db.session.execute(
                select(ranked.c.id, ranked.c.sent_at, gap, ranked.c.sender_id)
                .where(in_period, gap > limit_s)
                .order_by(gap.desc(), ranked.c.id)
                .limit(EVIDENCE_LIMIT)
            ).all()
            if gaps_over
            else []  # no gap over the limit: nothing to fetch
        )
        codes = {p.id: p.code for p in ctx.agreement.parties}
        evidence = [
            Evidence(
                r[0],
                r[1],
                "gap",
                float(r[2]) / DAY,
                "days",
                codes.get(r[3]) if self.per_sender else None,
            )
            for r in evidence_rows
        ]
        # Silence at the end: from the last record (before the period's end) to as_of.
        last_q = select(Exchange.sender_id, func.max(Exchange.sent_at)).where(
            *ctx.scope(self.record_kind, within=False)
        )
        # By sender id; one entry under None when senders are not told apart.
        last: dict[int | None, datetime | None]
        senders: list[int | None]
        if self.per_sender:
            last = dict(
                db.session.execute(on_compliance_index(last_q.group_by(Exchange.sender_id))).all()
            )
            senders = [p.id for p in ctx.agreement.parties]
            if ctx.partner_id is not None:
                senders = [ctx.partner_id]
        else:
            value = db.session.execute(
                on_compliance_index(
                    select(func.max(Exchange.sent_at)).where(
                        *ctx.scope(self.record_kind, within=False)
                    )
                )
            ).scalar()
            last, senders = {None: value}, [None]
        as_of = ctx.as_of
        silences, at_risk = [], False
        since_last_s = 0.0
        for sender in senders:
            latest = last.get(sender)
            reference = latest if latest is not None else ctx.effective_start
            quiet = max((as_of - reference).total_seconds(), 0.0)
            since_last_s = max(since_last_s, quiet)
            if quiet > limit_s:
                silences.append((sender, latest, quiet))
            elif quiet > limit_s - warning_s:
                at_risk = True
        if longest is not None:
            longest = max(float(longest), 0.0)
        for sender, latest, quiet in silences:
            if latest is not None and len(evidence) < EVIDENCE_LIMIT:
                record_id = db.session.execute(
                    on_compliance_index(
                        select(Exchange.id)
                        .where(
                            *ctx.scope(self.record_kind, within=False),
                            Exchange.sent_at == latest,
                            *([Exchange.sender_id == sender] if sender is not None else []),
                        )
                        .limit(1)
                    )
                ).scalar_one()  # `latest` is the time of one of these records
                evidence.insert(
                    0,
                    Evidence(
                        record_id,
                        latest,
                        "silence",
                        quiet / DAY,
                        "days",
                        codes.get(sender) if sender is not None else None,
                    ),
                )
        figures = {
            "records": records,
            "longest_gap_days": _round(longest, DAY),
            "gaps_over": gaps_over,
            "days_since_last": _round(since_last_s, DAY),
            "silent_now": len(silences),
            "limit_days": params["days"],
        }
        return Outcome(
            kind=self.kind,
            obligation_id=obligation_id,
            params=params,
            state=_state(gaps_over > 0 or bool(silences), at_risk),
            figures=figures,
            evidence=evidence,
            evidence_total=gaps_over + len(silences),
        )

    def _window_start(self, ctx: Context) -> Any:
        """The earliest record the gaps in the period need: the last one before the
        period (per sender: the earliest of the senders' last ones), else the
        period's start.  The window then reads the period's records and a few
        before it, not every record since the agreement began."""
        before = [*ctx.scope(self.record_kind, within=False), Exchange.sent_at < ctx.start]
        if self.per_sender:
            lasts = on_compliance_index(
                select(func.max(Exchange.sent_at).label("last"))
                .where(*before)
                .group_by(Exchange.sender_id)
            ).subquery()
            last_before = select(func.min(lasts.c.last)).scalar_subquery()
        else:
            last_before = on_compliance_index(
                select(func.max(Exchange.sent_at)).where(*before)
            ).scalar_subquery()
        return func.coalesce(last_before, _bind_time(ctx.start))


@register
class MeetingInterval(_IntervalRule):
    kind = "meeting_interval"
    label = _l("Liaison meetings held")
    description = _l("A meeting record at least every given number of days.")
    params = (
        Param("days", _l("Longest interval between meetings (days)")),
        Param("warning_days", _l("Warning window (days before the limit)"), required=False),
    )
    record_kind = "meeting"


@register
class PeriodicReport(_IntervalRule):
    kind = "periodic_report"
    label = _l("Periodic reports sent")
    description = _l("Each party sends a periodic report at least every given number of days.")
    params = (
        Param("days", _l("Longest interval between reports (days)")),
        Param("warning_days", _l("Warning window (days before the limit)"), required=False),
    )
    record_kind = "periodic_report"
    per_sender = True


def _whole_number(value: object) -> int | None:
    """A positive-or-zero whole number from a form or JSON value, else None.

    Digits in any script (Lao ໐–໙ included) count as their ASCII value, the way
    `int()` would read them anyway, but explicitly; signs, decimals and
    separators are refused rather than guessed at.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text or not all(c.isdecimal() for c in text):
        return None
    return int("".join(str(unicodedata.decimal(c)) for c in text))


def validate_params(kind: str, raw: dict) -> tuple[dict, dict[str, list]]:
    """Parameters of `kind` as positive whole numbers, or field errors.

    Unknown parameters are refused (a typo would otherwise silently do nothing);
    optional ones left empty are dropped.
    """
    rule = rule_for(kind)
    if rule is None:
        return {}, {"kind": [_l("Unknown kind of obligation.")]}
    known = {p.name: p for p in rule.params}
    errors: dict[str, list] = {}
    clean: dict = {}
    for name in raw:
        if name not in known:
            errors.setdefault(name, []).append(_l("Unknown parameter."))
    for name, spec in known.items():
        value = raw.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if spec.required:
                errors.setdefault(name, []).append(_l("This value is required."))
            continue
        number = _whole_number(value)
        if number is None:
            errors.setdefault(name, []).append(_l("Enter a whole number."))
        elif number <= 0:
            errors.setdefault(name, []).append(_l("Enter a number greater than zero."))
        elif number > spec.maximum:
            errors.setdefault(name, []).append(
                _l("Enter at most %(maximum)s.", maximum=spec.maximum)
            )
        else:
            clean[name] = number
    warning = next((p.name for p in rule.params if p.name.startswith("warning_")), None)
    limit = rule.params[0].name
    if not errors and warning is not None and warning in clean and clean[warning] >= clean[limit]:
        errors[warning] = [_l("The warning window must be shorter than the limit.")]
    return (clean if not errors else {}), errors
