"""Organisation scoping: what an actor may see.  Every read of cases and exchanges
goes through these filters, so no face can forget them."""

from __future__ import annotations

from sqlalchemy import Select, and_, or_, select

from hub.extensions import db
from hub.models import Case, Exchange, case_organisations
from hub.operations.actor import Actor
from hub.operations.errors import NotFound


def exchanges_visible_to(actor: Actor, query: Select | None = None) -> Select:
    """Exchanges the actor's organisation sent or received (admins see none)."""
    query = query if query is not None else select(Exchange)
    if actor.organisation_id is None or actor.is_admin:
        return query.where(False)
    return query.where(
        or_(
            Exchange.sender_id == actor.organisation_id,
            Exchange.recipient_id == actor.organisation_id,
        )
    )


def _sees_no_cases(actor: Actor) -> bool:
    return actor.organisation_id is None or actor.is_admin


def cases_visible_to(actor: Actor, query: Select | None = None) -> Select:
    """Cases the actor's organisation owns or is involved in (admins see none).

    The involvement test is a probe of (case_id, organisation_id) per case read.
    Its OFFSET 0 keeps it one: PostgreSQL otherwise turns an EXISTS under OR into
    a hash of every case the organisation is involved in, built on each query
    (~50k rows at 100k cases) even when the list stops after 51 rows.
    """
    query = query if query is not None else select(Case)
    if _sees_no_cases(actor):
        return query.where(False)
    involved = (
        select(case_organisations.c.case_id)
        .where(
            case_organisations.c.case_id == Case.id,
            case_organisations.c.organisation_id == actor.organisation_id,
        )
        .offset(0)
        .exists()
    )
    return query.where(or_(Case.owner_organisation_id == actor.organisation_id, involved))


def case_ids_visible_among(actor: Actor, candidates: Select) -> Select:
    """Of the case ids `candidates` selects (one column), those the actor may see.

    Read from the link table alone, joined to the candidates in case order, so a
    filter that names few of the actor's cases (by agreement or partner) never
    walks the cases themselves. It counts the owner as involved: the owner is
    always among a case's organisations (hub.operations.cases keeps it there;
    migration 0003 completed older rows).
    """
    if _sees_no_cases(actor):
        return select(Case.id).where(False)
    named = candidates.subquery()
    column = next(iter(named.c))
    return select(column).join(
        case_organisations,
        and_(
            case_organisations.c.case_id == column,
            case_organisations.c.organisation_id == actor.organisation_id,
        ),
    )


def get_exchange(actor: Actor, exchange_id: int) -> Exchange:
    """The exchange, or NotFound, also when it exists but is not the actor's to see."""
    row = db.session.scalar(exchanges_visible_to(actor).where(Exchange.id == exchange_id))
    if row is None:
        raise NotFound()
    return row


def get_case(actor: Actor, case_id: int) -> Case:
    row = db.session.scalar(cases_visible_to(actor).where(Case.id == case_id))
    if row is None:
        raise NotFound()
    return row
