"""Organisation scoping: what an actor may see.  Every read of cases and exchanges
goes through these filters, so no face can forget them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeVarTuple, overload

from sqlalchemy import Select, and_, false, or_, select

from hub.errors import NotFound
from hub.extensions import db
from hub.models import (
    Agreement,
    Case,
    Exchange,
    Suspect,
    agreement_parties,
    case_organisations,
)
from hub.operations.actor import Actor

_Ts = TypeVarTuple("_Ts")


@overload
def exchanges_visible_to(actor: Actor) -> Select[Exchange]: ...
@overload
def exchanges_visible_to(actor: Actor, query: Select[*_Ts]) -> Select[*_Ts]: ...
def exchanges_visible_to(
    actor: Actor, query: Select[*tuple[Any, ...]] | None = None
) -> Select[*tuple[Any, ...]]:
    """Exchanges the actor's organisation sent or received (admins see none)."""
    query = query if query is not None else select(Exchange)
    if actor.organisation_id is None or actor.is_admin:
        return query.where(false())
    return query.where(
        or_(
            Exchange.sender_id == actor.organisation_id,
            Exchange.recipient_id == actor.organisation_id,
        )
    )


def _sees_no_cases(actor: Actor) -> bool:
    return actor.organisation_id is None or actor.is_admin


@overload
def cases_visible_to(actor: Actor) -> Select[Case]: ...
@overload
def cases_visible_to(actor: Actor, query: Select[*_Ts]) -> Select[*_Ts]: ...
def cases_visible_to(
    actor: Actor, query: Select[*tuple[Any, ...]] | None = None
) -> Select[*tuple[Any, ...]]:
    """Cases the actor's organisation owns or is involved in (admins see none).

    The involvement test is a probe of (case_id, organisation_id) per case read.
    Its OFFSET 0 keeps it one: PostgreSQL otherwise turns an EXISTS under OR into
    a hash of every case the organisation is involved in, built on each query
    (~50k rows at 100k cases) even when the list stops after 51 rows.
    """
    query = query if query is not None else select(Case)
    if _sees_no_cases(actor):
        return query.where(false())
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


def case_ids_visible_among(actor: Actor, candidates: Select[int]) -> Select[int]:
    """Of the case ids `candidates` selects (one column), those the actor may see.

    Read from the link table alone, joined to the candidates in case order, so a
    filter that names few of the actor's cases (by agreement or partner) never
    walks the cases themselves. It counts the owner as involved: the owner is
    always among a case's organisations (hub.operations.cases keeps it there;
    migration 0003 completed older rows).
    """
    if _sees_no_cases(actor):
        return select(Case.id).where(false())
    named = candidates.subquery()
    column = next(iter(named.c))
    return select(column).join(
        case_organisations,
        and_(
            case_organisations.c.case_id == column,
            case_organisations.c.organisation_id == actor.organisation_id,
        ),
    )


def cases_by_reference(actor: Actor, reference: str) -> list[Case]:
    """The cases the actor sees under ``reference``: its own organisation's alone when it
    owns one, else those of the other organisations that involve it (oldest first).

    References are unique per owning organisation (migration 0007), so two organisations
    may both have an "A-1"; a lookup by reference never reaches past what the actor sees,
    and an organisation's own reference names its own case first. More than one answer
    means partners' cases the caller must tell apart by id.
    """
    rows = list(
        db.session.scalars(
            cases_visible_to(actor).where(Case.reference == reference).order_by(Case.id)
        )
    )
    own = [c for c in rows if c.owner_organisation_id == actor.organisation_id]
    return own or rows


def get_exchange(actor: Actor, exchange_id: int) -> Exchange:
    """The exchange, or NotFound, also when it exists but is not the actor's to see."""
    row: Exchange | None = db.session.scalar(
        exchanges_visible_to(actor).where(Exchange.id == exchange_id)
    )
    if row is None:
        raise NotFound()
    return row


def get_case(actor: Actor, case_id: int) -> Case:
    row: Case | None = db.session.scalar(cases_visible_to(actor).where(Case.id == case_id))
    if row is None:
        raise NotFound()
    return row


# --- linked records --------------------------------------------------------------------
#
# A record shown beside another (an exchange's case, the exchange it replies to, its
# replies) is shown only to whoever sees it on its own: the one rule every page, API
# answer, export and list applies to what it links, so seeing an exchange never shows
# a case or an exchange of someone else. (Older data may hold such links; new ones are
# refused when they are made: hub.operations.exchanges.)


def sees_exchange(actor: Actor, exchange: Exchange) -> bool:
    """`exchanges_visible_to` for one row in hand."""
    if actor.organisation_id is None or actor.is_admin:
        return False
    return actor.organisation_id in (exchange.sender_id, exchange.recipient_id)


def sees_case(actor: Actor, case: Case) -> bool:
    """`cases_visible_to` for one row in hand (reads its organisations)."""
    if _sees_no_cases(actor):
        return False
    if case.owner_organisation_id == actor.organisation_id:
        return True
    return any(o.id == actor.organisation_id for o in case.organisations)


def linked_case(actor: Actor, exchange: Exchange) -> Case | None:
    """The exchange's case, if the actor sees that case."""
    case = exchange.case if exchange.case_id is not None else None
    return case if case is not None and sees_case(actor, case) else None


def linked_case_id(actor: Actor, exchange: Exchange) -> int | None:
    case = linked_case(actor, exchange)
    return case.id if case is not None else None


def replied_to(actor: Actor, exchange: Exchange) -> Exchange | None:
    """The exchange this one answers, if the actor sees it."""
    if exchange.in_reply_to_id is None:
        return None
    target = exchange.in_reply_to
    return target if target is not None and sees_exchange(actor, target) else None


def replies(actor: Actor, exchange: Exchange) -> list[Exchange]:
    """The replies to the exchange that the actor sees."""
    return [r for r in exchange.replies if sees_exchange(actor, r)]


def agreements_visible_to(actor: Actor) -> Select[Agreement]:
    """Agreements the actor sees, by code: their organisation's; all for administrators."""
    query = select(Agreement).order_by(Agreement.code)
    if not actor.is_admin:
        query = query.join(agreement_parties).where(
            agreement_parties.c.organisation_id == actor.organisation_id
        )
    return query


def get_agreement(actor: Actor, code: str) -> Agreement:
    """The agreement ``code`` if the actor sees it; NotFound otherwise (existence not revealed)."""
    row: Agreement | None = db.session.scalar(
        agreements_visible_to(actor).where(Agreement.code == code)
    )
    if row is None:
        raise NotFound()
    return row


# --- audit entries about cases ---------------------------------------------------------
#
# A log's readers may not all see every case it names: the hub-wide log holds the case
# entries written before cases had logs of their own (cases under no agreement wrote
# there, and administrators, who see no case data, read it), and an agreement's log may
# hold entries of a case a party is not involved in, written before a case's entries
# went only to logs of those involved. Those entries cannot be moved (the hash chain),
# so they are withheld when read: their position, action, record type and hash stay
# visible (verification covers them as any other), who, when, which record and the
# details do not. This one rule serves every face (pages, API, filters).

#: Audit target types that are case data: a case (its seizures, status, links) and its
#: suspects (recorded, opened).
CASE_TARGETS: Final = frozenset({"case", "suspect"})


def sees_every_case_entry(actor: Actor) -> bool:
    """False for who sees no case at all (administrators, the hub itself): every case
    entry is withheld from them, which a filter can apply in SQL."""
    return not _sees_no_cases(actor)


def entries_withheld(actor: Actor, entries: Sequence[Mapping[str, Any]]) -> set[int]:
    """Of decoded audit entries (``hub.audit.entry.decode_entry``), the indexes of those
    about a case, or a case's suspect, that the actor does not see (`cases_visible_to`)."""
    about = [e for e in entries if e.get("target_type") in CASE_TARGETS]
    if not about:
        return set()
    if _sees_no_cases(actor):
        return {e["index"] for e in about}

    def ids(kind: str) -> set[int]:
        found = (str(e.get("target_id")) for e in about if e["target_type"] == kind)
        return {int(t) for t in found if t.isascii() and t.isdigit() and len(t) < 16}

    suspects: dict[int, int] = {
        suspect_id: case_id
        for suspect_id, case_id in db.session.execute(
            select(Suspect.id, Suspect.case_id).where(Suspect.id.in_(ids("suspect")))
        )
    }
    wanted = ids("case") | set(suspects.values())
    seen = set(
        db.session.scalars(cases_visible_to(actor, select(Case.id)).where(Case.id.in_(wanted)))
    )

    def visible(entry: Mapping[str, Any]) -> bool:
        target = str(entry.get("target_id"))
        if not (target.isascii() and target.isdigit() and len(target) < 16):
            return False
        case_id = int(target) if entry["target_type"] == "case" else suspects.get(int(target))
        return case_id in seen

    return {e["index"] for e in about if not visible(e)}
