"""Who may do what to a case or an exchange they can see: one table per record type.

Order of refusal, the same for every face: a record the actor's organisation
cannot see is NotFound (404, its existence not revealed); a supervisor or
administrator writing is Forbidden (403); then each action's own rule.  The API
asks `exchange_for`/`case_for` BEFORE reading the request body, so a refusal
never depends on what was sent.
"""

from __future__ import annotations

from collections.abc import Callable

from flask_babel import lazy_gettext as _l

from hub.errors import Forbidden, NotFound
from hub.extensions import db
from hub.models import Case, Exchange
from hub.operations import checks
from hub.operations.actor import Actor
from hub.operations.scope import cases_visible_to, exchanges_visible_to

REQUEST_KINDS = ("request", "permission_request")


def visible_exchange(actor: Actor, exchange_id: object) -> Exchange:
    """The exchange if the actor's organisation sent or received it; NotFound otherwise."""
    if not checks.valid_id(exchange_id):
        raise NotFound()
    row: Exchange | None = db.session.scalar(
        exchanges_visible_to(actor).where(Exchange.id == exchange_id)
    )
    if row is None:
        raise NotFound()
    return row


def visible_case(actor: Actor, case_id: object) -> Case:
    if not checks.valid_id(case_id):
        raise NotFound()
    row: Case | None = db.session.scalar(cases_visible_to(actor).where(Case.id == case_id))
    if row is None:
        raise NotFound()
    return row


def may_forward(actor: Actor, exchange: Exchange) -> bool:
    """H2: no onward sharing without the provider's permission (the provider itself may)."""
    if exchange.sender_id == actor.organisation_id:
        return True
    return exchange.handling != "H2" or exchange.onward_sharing_permitted


def may_use_in_court(actor: Actor, exchange: Exchange) -> bool:
    """H1: not in judicial proceedings without the provider's permission."""
    if exchange.sender_id == actor.organisation_id:
        return True
    return exchange.handling != "H1" or exchange.court_use_permitted


def _recipient(actor: Actor, exchange: Exchange) -> None:
    if exchange.recipient_id != actor.organisation_id:
        raise Forbidden(_l("Only the recipient organisation acknowledges an exchange."))


def _sender(actor: Actor, exchange: Exchange) -> None:
    if exchange.sender_id != actor.organisation_id:
        raise Forbidden(_l("Only the sending organisation attaches files to an exchange."))


def _closer(actor: Actor, exchange: Exchange) -> None:
    # A recipient must not make its own overdue answer disappear.
    if exchange.kind in REQUEST_KINDS and exchange.sender_id != actor.organisation_id:
        raise Forbidden(_l("Only the organisation that asked can close a request."))


def _forwarder(actor: Actor, exchange: Exchange) -> None:
    if not may_forward(actor, exchange):
        raise Forbidden(
            _l(
                "Under H2 this may not be shared onwards until the provider's permission"
                " is recorded."
            )
        )


def _court(actor: Actor, exchange: Exchange) -> None:
    if not may_use_in_court(actor, exchange):
        raise Forbidden(
            _l(
                "Under H1 this may not be used in court until the provider's permission"
                " is recorded."
            )
        )


def _any_party(actor: Actor, record: object) -> None:
    """Seeing it is enough (scope already limits sight to the parties)."""


EXCHANGE_RULES: dict[str, Callable[[Actor, Exchange], None]] = {
    "acknowledge": _recipient,
    "close": _closer,
    "link_case": _any_party,
    "translate": _any_party,
    "attach": _sender,
    "forward": _forwarder,
    "court_use": _court,
}


def _owner(actor: Actor, case: Case) -> None:
    if case.owner_organisation_id != actor.organisation_id:
        raise Forbidden(_l("Only the organisation that opened the case can change it."))


def _involved(actor: Actor, case: Case) -> None:
    involved = {o.id for o in case.organisations} | {case.owner_organisation_id}
    if actor.organisation_id not in involved:
        raise Forbidden()


CASE_RULES: dict[str, Callable[[Actor, Case], None]] = {
    "edit": _owner,
    "status": _owner,
    "seizure": _involved,
    "suspect": _involved,
}


def exchange_for(actor: Actor, exchange_id: object, action: str) -> Exchange:
    """The exchange, if the actor may do `action` to it (NotFound, then Forbidden)."""
    exchange = visible_exchange(actor, exchange_id)
    checks.require_officer(actor)
    EXCHANGE_RULES[action](actor, exchange)
    return exchange


def case_for(actor: Actor, case_id: object, action: str) -> Case:
    case = visible_case(actor, case_id)
    checks.require_officer(actor)
    CASE_RULES[action](actor, case)
    return case
