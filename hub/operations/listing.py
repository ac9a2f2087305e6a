"""Filtered, paginated lists of exchanges and cases, shared by the pages and the API.

Sorted newest first by date (sent_at / opened_on, then id).  Two ways to page:
`page` numbers (bounded at MAX_PAGE, so an offset never walks a million rows)
and an opaque keyset `cursor` (continues after the last row seen: constant
cost at any depth).  Rows come with what a list shows (agreement, sender and
recipient with their names, case) loaded in a fixed number of queries.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, exists, or_, select, union_all
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.expression import ColumnElement

from hub.errors import ValidationFailed
from hub.extensions import db
from hub.models import (
    Agreement,
    Case,
    Exchange,
    Organisation,
    Suspect,
    agreement_parties,
    case_agreements,
    case_organisations,
)
from hub.models.base import utcnow
from hub.models.case import CASE_STATUSES
from hub.models.exchange import CLASSIFICATIONS, EXCHANGE_KINDS, EXCHANGE_STATUSES
from hub.operations import checks
from hub.operations.actor import Actor
from hub.operations.checks import Errors
from hub.operations.scope import (
    case_ids_visible_among,
    cases_visible_to,
    exchanges_visible_to,
)
from hub.text import fold

#: A WHERE condition.
Clause = ColumnElement[bool]
_T = TypeVar("_T")

PER_PAGE = 50
MAX_PER_PAGE = 200
MAX_PAGE = 200
LOCAL = timedelta(hours=7)  # UTC+7 (Viet Nam, Laos), no DST
OPEN = ("sent", "acknowledged")
Q_MAX = 100


@dataclass
class ExchangeFilters:
    agreement: str | None = None
    partner: str | None = None
    kind: str | None = None
    status: str | None = None
    classification: str | None = None
    case: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    overdue: bool | None = None
    #: "in" (received by the actor's organisation) or "out" (sent by it).
    direction: str | None = None
    q: str | None = None


@dataclass
class CaseFilters:
    agreement: str | None = None
    partner: str | None = None
    status: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    q: str | None = None
    suspect_name: str | None = None
    suspect_document: str | None = None


@dataclass
class Page:
    items: list[Any]
    page: int | None
    per_page: int
    has_next: bool
    next_cursor: str | None
    filters: dict[str, Any] = field(default_factory=dict)


def _local_start(day: date) -> datetime:
    """Midnight in UTC+7 (Viet Nam and Laos), as a UTC instant."""
    return datetime.combine(day, time(), tzinfo=UTC) - LOCAL


def _like(q: str) -> str:
    escaped = fold(q).strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def overdue_clause(now: datetime | None = None) -> ColumnElement[bool]:
    now = now or utcnow()
    return and_(
        Exchange.due_at.is_not(None),
        Exchange.due_at < now,
        Exchange.answered_at.is_(None),
        Exchange.status.in_(OPEN),
    )


def _code_lookup(
    errors: Errors, name: str, model: type[Agreement] | type[Organisation], code: object
) -> int | None:
    row_id = db.session.scalar(select(model.id).where(model.code == code))
    if row_id is None:
        unknown = _l("Unknown agreement.") if model is Agreement else _l("Unknown organisation.")
        errors.add(name, unknown)
    return row_id


def _own_agreement(errors: Errors, actor: Actor, code: object) -> int | None:
    """The id of an agreement the actor's organisation is party to; an agreement it is
    not party to gets the answer of one that does not exist (no existence oracle)."""
    row_id = db.session.scalar(
        select(Agreement.id)
        .join(agreement_parties, agreement_parties.c.agreement_id == Agreement.id)
        .where(Agreement.code == code, agreement_parties.c.organisation_id == actor.organisation_id)
    )
    if row_id is None:
        errors.add("agreement", _l("Unknown agreement."))
    return row_id


def _check_paging(errors: Errors, page: object, per_page: object, cursor: object) -> None:
    if page is not None and (not isinstance(page, int) or not 1 <= page <= MAX_PAGE):
        errors.add(
            "page",
            _l("Choose a page from 1 to %(n)d; narrow the filters to go further.", n=MAX_PAGE),
        )
    if not isinstance(per_page, int) or not 1 <= per_page <= MAX_PER_PAGE:
        errors.add("per_page", _l("Choose from 1 to %(n)d rows per page.", n=MAX_PER_PAGE))
    if page is not None and cursor is not None and page != 1:
        errors.add("page", _l("Use either a page number or a cursor."))


def _encode_cursor(*parts: object) -> str:
    raw = "|".join(str(p) for p in parts)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _page(
    rows: list[Any],
    number: int,
    per_page: int,
    after: object,
    sort_key: Callable[[Any], date],
) -> Page:
    """One page from up to per_page + 1 rows (the extra one says there is a next page).

    `sort_key(row)` is the date the list is ordered by; with the id it makes the keyset
    cursor of the next page.
    """
    if not rows and after is None and number > 1:
        raise ValidationFailed.one("page", _l("There is no page %(n)d.", n=number))
    has_next = len(rows) > per_page
    rows = rows[:per_page]
    next_cursor = None
    if has_next:
        last = rows[-1]
        next_cursor = _encode_cursor(sort_key(last).isoformat(), last.id)
    return Page(
        items=rows,
        page=None if after is not None else number,
        per_page=per_page,
        has_next=has_next,
        next_cursor=next_cursor,
    )


def _decode_cursor(
    errors: Errors, cursor: str, parse: Callable[[str], _T]
) -> tuple[_T, int] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        first, last = raw.split("|")
        ident = int(last)
        if not checks.valid_id(ident):
            raise ValueError(ident)
        return parse(first), ident
    except (ValueError, binascii.Error, UnicodeDecodeError):
        errors.add("cursor", _l("This cursor is not valid; start from the first page."))
        return None


def _exchange_clauses(
    actor: Actor, f: ExchangeFilters, errors: Errors
) -> tuple[list[Clause], dict[str, list[Clause]]]:
    """The filters as SQL clauses (visibility apart), and the sides of the actor to list."""
    clauses: list[Clause] = []
    sides: dict[str, list[Clause]] = {
        "out": [],
        "in": [],
    }  # sent by / received by the actor's organisation
    if f.agreement:
        agreement_id = _own_agreement(errors, actor, f.agreement)
        clauses.append(Exchange.agreement_id == agreement_id)
    if f.partner:
        partner_id = _code_lookup(errors, "partner", Organisation, f.partner)
        if partner_id is not None and partner_id == actor.organisation_id:
            errors.add("partner", _l("Choose another organisation than your own."))
        if sides:
            sides["out"].append(Exchange.recipient_id == partner_id)
            sides["in"].append(Exchange.sender_id == partner_id)
    if f.kind:
        checks.choice(errors, "kind", f.kind, EXCHANGE_KINDS)
        clauses.append(Exchange.kind == f.kind)
    if f.status:
        checks.choice(errors, "status", f.status, EXCHANGE_STATUSES)
        clauses.append(Exchange.status == f.status)
    if f.classification:
        checks.choice(errors, "classification", f.classification, CLASSIFICATIONS)
        clauses.append(Exchange.classification == f.classification)
    if f.direction:
        checks.choice(errors, "direction", f.direction, ("in", "out"))
        sides = {f.direction: sides[f.direction]} if f.direction in sides else {}
    if f.case is not None:
        if not checks.valid_id(f.case):
            errors.add("case", _l("Unknown case."))
        elif (
            db.session.scalar(cases_visible_to(actor, select(Case.id)).where(Case.id == f.case))
            is None
        ):
            sides = {}  # a case the actor does not see lists as one that does not exist
        clauses.append(Exchange.case_id == f.case)
    clauses.extend(_date_clauses(errors, Exchange.sent_at, f.date_from, f.date_to, instant=True))
    if f.overdue is True:
        clauses.append(overdue_clause())
    elif f.overdue is False:
        clauses.append(~overdue_clause())
    if f.q:
        q = checks.text(errors, "q", f.q, max_length=Q_MAX)
        if q:
            pattern = _like(q)
            clauses.append(
                or_(
                    Exchange.subject_key.like(pattern, escape="\\"),
                    Exchange.case_id.in_(_cases_matching(actor, pattern)),
                )
            )
    return clauses, sides


#: Up to this many cases found by reference are named to the exchange query by id.
CASE_IDS_MAX = 500


def _cases_matching(actor: Actor, pattern: str) -> list[int] | Select[int]:
    """Ids of the cases the actor sees whose reference matches, found once (a scan of
    the references: a LIKE '%...%' has no index). Inlined as a subquery, it ran once per
    branch of the exchange list (sent, received); when many match, the subquery it stays.
    Only cases the actor sees: a partner's reference must not find the exchanges linked
    to it (that would tell the partner which of its exchanges concern that case)."""
    found = cases_visible_to(actor, select(Case.id)).where(
        Case.reference_key.like(pattern, escape="\\")
    )
    ids = list(db.session.scalars(found.limit(CASE_IDS_MAX + 1)))
    return ids if len(ids) <= CASE_IDS_MAX else found


def _date_clauses(
    errors: Errors, column: Any, start: date | None, end: date | None, *, instant: bool
) -> list[ColumnElement[bool]]:
    for name, value in (("date_from", start), ("date_to", end)):
        # The one date rule (year 9999 would overflow the day after it, year 1 the zone).
        if value is not None and checks.day(errors, name, value, latest=checks.LATEST_DAY) is None:
            return []
    if start and end and end < start:
        errors.add("date_to", _l("The end date is before the start date."))
    clauses = []
    if start:
        clauses.append(column >= (_local_start(start) if instant else start))
    if end:
        clauses.append(column < _local_start(end + timedelta(days=1)) if instant else column <= end)
    return clauses


def _exchange_ids(
    actor: Actor,
    clauses: list[Clause],
    sides: dict[str, list[Clause]],
    offset: int,
    limit: int,
    *,
    overdue: bool,
) -> list[int]:
    """Ids of one page, newest first."""
    if not sides:
        return []
    org = actor.organisation_id
    newest = (Exchange.sent_at.desc(), Exchange.id.desc())
    if overdue:
        # Few rows are overdue: find them through (status, due_at), then sort them, rather
        # than walk every exchange of the organisation in date order looking for them.
        per_side = [
            and_((Exchange.sender_id if side == "out" else Exchange.recipient_id) == org, *extra)
            for side, extra in sides.items()
        ]
        query = (
            exchanges_visible_to(actor, select(Exchange.id))
            .where(*clauses, or_(*per_side))
            .with_hint(Exchange, "INDEXED BY ix_exchanges_open_due", "sqlite")
            .order_by(*newest)
            .offset(offset)
            .limit(limit)
        )
        return list(db.session.scalars(query))
    branches = []
    for side, extra in sides.items():
        own = Exchange.sender_id if side == "out" else Exchange.recipient_id
        branch = (
            exchanges_visible_to(actor, select(Exchange.id, Exchange.sent_at))
            .where(own == org, *extra, *clauses)
            .order_by(*newest)
            .limit(offset + limit)
            .subquery()
        )
        branches.append(select(branch.c.id, branch.c.sent_at))
    merged = union_all(*branches).subquery() if len(branches) > 1 else branches[0].subquery()
    return list(
        db.session.scalars(
            select(merged.c.id)
            .order_by(merged.c.sent_at.desc(), merged.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
    )


def list_exchanges(
    actor: Actor,
    filters: ExchangeFilters | None = None,
    *,
    page: int | None = None,
    per_page: int = PER_PAGE,
    cursor: str | None = None,
) -> Page:
    """Exchanges the actor may see, filtered, newest first (ValidationFailed on bad filters).

    Sent and received exchanges are read as two index-ordered branches
    (sender_id, sent_at, id) and (recipient_id, sent_at, id), each cut at the
    page's end, then merged: an OR over both columns would sort every matching row.
    """
    f = filters or ExchangeFilters()
    errors = Errors()
    _check_paging(errors, page, per_page, cursor)
    clauses, sides = _exchange_clauses(actor, f, errors)
    after = None
    if cursor:
        after = _decode_cursor(errors, cursor, datetime.fromisoformat)
    errors.raise_if_any()
    if after is not None:
        sent_at, ident = after
        if sent_at.tzinfo is None:
            sent_at = sent_at.replace(tzinfo=UTC)
        clauses.append(
            or_(Exchange.sent_at < sent_at, and_(Exchange.sent_at == sent_at, Exchange.id < ident))
        )
    number = page or 1
    offset = 0 if after is not None else (number - 1) * per_page
    ids = _exchange_ids(actor, clauses, sides, offset, per_page + 1, overdue=f.overdue is True)
    rows = []
    if ids:
        rows = list(
            db.session.scalars(
                select(Exchange)
                .where(Exchange.id.in_(ids))
                .options(
                    selectinload(Exchange.agreement),
                    selectinload(Exchange.sender).selectinload(Organisation.names),
                    selectinload(Exchange.recipient).selectinload(Organisation.names),
                    # What scope.linked_case and scope.replied_to read, for the page at once.
                    selectinload(Exchange.case).selectinload(Case.organisations),
                    selectinload(Exchange.in_reply_to),
                )
            )
        )
        rows.sort(key=lambda e: (e.sent_at, e.id), reverse=True)
    return _page(rows, number, per_page, after, lambda last: last.sent_at)


@dataclass
class _CaseQuery:
    """A case list's query in parts, so the cheaper way to run it can be chosen."""

    actor: Actor
    #: The filters that do not narrow by a link (status, dates, text, suspects, cursor).
    clauses: list[Clause]
    #: The agreement and partner filters, as clauses on Case.
    links: list[Clause]
    #: Ids of the cases those filters can match, read from the link tables (or None).
    candidates: Select[int] | None

    @property
    def query(self) -> Select[Case]:
        """Visible cases with the filters that do not narrow by a link."""
        return cases_visible_to(self.actor).where(*self.clauses)


def _case_query(actor: Actor, f: CaseFilters, errors: Errors) -> _CaseQuery:
    clauses: list[Clause] = []
    links: list[Clause] = []
    candidates: Select[int] | None = None
    if f.agreement:
        # Any agreement: a case shows its agreements to every organisation involved,
        # including agreements one of them is not party to
        # (tests/operations/test_case_list_links.py).
        agreement_id = _code_lookup(errors, "agreement", Agreement, f.agreement)
        links.append(
            exists().where(
                case_agreements.c.case_id == Case.id,
                case_agreements.c.agreement_id == agreement_id,
            )
        )
        candidates = select(case_agreements.c.case_id).where(
            case_agreements.c.agreement_id == agreement_id
        )
    if f.partner:
        partner_id = _code_lookup(errors, "partner", Organisation, f.partner)
        links.append(
            or_(
                Case.owner_organisation_id == partner_id,
                exists().where(
                    case_organisations.c.case_id == Case.id,
                    case_organisations.c.organisation_id == partner_id,
                ),
            )
        )
        if candidates is None:  # an agreement's cases are the narrower set to start from
            # The owner is among the organisations (see scope.case_ids_visible_among).
            candidates = select(case_organisations.c.case_id).where(
                case_organisations.c.organisation_id == partner_id
            )
    if f.status:
        checks.choice(errors, "status", f.status, CASE_STATUSES)
        clauses.append(Case.status == f.status)
    clauses += _date_clauses(errors, Case.opened_on, f.date_from, f.date_to, instant=False)
    if f.q:
        q = checks.text(errors, "q", f.q, max_length=Q_MAX)
        if q:
            pattern = _like(q)
            clauses.append(
                or_(
                    Case.reference_key.like(pattern, escape="\\"),
                    Case.title_key.like(pattern, escape="\\"),
                )
            )
    if f.suspect_name or f.suspect_document:
        from hub.operations.cases import suspect_indexes

        name = checks.text(errors, "suspect_name", f.suspect_name, max_length=200, required=False)
        document = checks.text(
            errors, "suspect_document", f.suspect_document, max_length=64, required=False
        )
        indexes = suspect_indexes(name=name, document=document)
        found = [Suspect.case_id == Case.id]
        if "name" in indexes:
            found.append(Suspect.name_index == indexes["name"])
        if "document" in indexes:
            found.append(Suspect.document_index == indexes["document"])
        clauses.append(exists().where(*found))
    return _CaseQuery(actor=actor, clauses=clauses, links=links, candidates=candidates)


#: A linked filter is first tried on this many of the newest cases per row of a page.
CASE_WINDOW = 4
#: The walk goes on when at least this share of the window matched: the page's end is
#: then expected within 1 / share of its depth.
CASE_DENSE = 1 / 8


def _case_ids(built: _CaseQuery, offset: int, limit: int) -> list[int]:
    """Ids of one page of cases, newest first.

    Without an agreement or partner filter: walk cases newest first (index
    (opened_on, id)) and stop at the page's end. With one, that walk can visit
    every visible case when the filter matches few of them (a partner never
    involved, an agreement the organisation is not party to). So the filter is
    first tried on a window of the newest cases (4 per row of the page):

    - the window holds the page, or is every case there is: that is the answer;
    - enough of it matched: the walk goes on as without the filter;
    - else the cases are read from the filter's side: the link table's
      (agreement_id, case_id) or (organisation_id, case_id) joined in case order
      to (organisation_id, case_id) for visibility, then the other filters on
      those few, sorted.
    """
    newest = (Case.opened_on.desc(), Case.id.desc())
    walk = built.query.with_only_columns(Case.id).order_by(*newest)
    if built.candidates is None:
        return list(db.session.scalars(walk.offset(offset).limit(limit)))
    size = CASE_WINDOW * limit
    window = (
        built.query.with_only_columns(Case.id, Case.opened_on)
        .order_by(*newest)
        .limit(size)
        .subquery()
    )
    rows = db.session.execute(
        select(window.c.id, exists().where(Case.id == window.c.id, *built.links)).order_by(
            window.c.opened_on.desc(), window.c.id.desc()
        )
    ).all()
    hits = [row[0] for row in rows if row[1]]
    if len(hits) >= offset + limit or len(rows) < size:
        return hits[offset : offset + limit]
    if len(hits) >= CASE_DENSE * len(rows):
        return list(db.session.scalars(walk.where(*built.links).offset(offset).limit(limit)))
    # OFFSET 0 keeps the planners from walking (opened_on, id) for the ORDER BY outside.
    visible = case_ids_visible_among(built.actor, built.candidates)
    matching = (
        select(Case.id, Case.opened_on)
        .where(Case.id.in_(visible), *built.clauses, *built.links)
        .offset(0)
        .subquery()
    )
    return list(
        db.session.scalars(
            select(matching.c.id)
            .order_by(matching.c.opened_on.desc(), matching.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
    )


def list_cases(
    actor: Actor,
    filters: CaseFilters | None = None,
    *,
    page: int | None = None,
    per_page: int = PER_PAGE,
    cursor: str | None = None,
) -> Page:
    f = filters or CaseFilters()
    errors = Errors()
    _check_paging(errors, page, per_page, cursor)
    built = _case_query(actor, f, errors)
    after = None
    if cursor:
        after = _decode_cursor(errors, cursor, date.fromisoformat)
    errors.raise_if_any()
    if after is not None:
        opened_on, ident = after
        built.clauses.append(
            or_(Case.opened_on < opened_on, and_(Case.opened_on == opened_on, Case.id < ident))
        )
    number = page or 1
    offset = 0 if after is not None else (number - 1) * per_page
    ids = _case_ids(built, offset, per_page + 1)
    rows = []
    if ids:
        rows = list(
            db.session.scalars(
                select(Case)
                .where(Case.id.in_(ids))
                .options(
                    selectinload(Case.owner).selectinload(Organisation.names),
                    selectinload(Case.organisations),
                    selectinload(Case.agreements),
                    selectinload(Case.province),
                    selectinload(Case.district),
                    selectinload(Case.locality),
                    selectinload(Case.border_gate),
                    selectinload(Case.seizures),
                )
            )
        )
        rows.sort(key=lambda c: (c.opened_on, c.id), reverse=True)
    return _page(rows, number, per_page, after, lambda last: last.opened_on)
