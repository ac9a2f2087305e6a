"""Organisation scoping: what an actor may see.  Every read of cases and exchanges
goes through these filters, so no face can forget them."""

from __future__ import annotations

from sqlalchemy import Select, exists, or_, select

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


def cases_visible_to(actor: Actor, query: Select | None = None) -> Select:
    """Cases the actor's organisation owns or is involved in (admins see none)."""
    query = query if query is not None else select(Case)
    if actor.organisation_id is None or actor.is_admin:
        return query.where(False)
    involved = exists().where(
        case_organisations.c.case_id == Case.id,
        case_organisations.c.organisation_id == actor.organisation_id,
    )
    return query.where(or_(Case.owner_organisation_id == actor.organisation_id, involved))


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
