"""Choices for the forms' pickers, read through the same scoping as everything else.

Reads only: agreements the actor's organisation is party to, their partners,
recent visible cases, and places valid on a given day (with the names of that
day, so an old case shows Quảng Bình where a new one shows Quảng Trị).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from hub.extensions import db
from hub.models import Agreement, Case, Organisation, Place
from hub.operations.actor import Actor
from hub.operations.scope import cases_visible_to

#: Cases offered in a "linked case" list; older ones are linked from the case's own page.
RECENT_CASES = 50


def agreements(actor: Actor, lang: str) -> list[tuple[str, str]]:
    rows = db.session.scalars(
        select(Agreement)
        .where(Agreement.parties.any(Organisation.id == actor.organisation_id))
        .order_by(Agreement.code)
    )
    return [(a.code, f"{a.code} – {a.title(lang)}") for a in rows]


def partners(actor: Actor, lang: str, day: date | None = None) -> list[tuple[str, str]]:
    """Organisations sharing an agreement with the actor's, by code."""
    found: dict[str, Organisation] = {}
    for agreement in db.session.scalars(
        select(Agreement)
        .where(Agreement.parties.any(Organisation.id == actor.organisation_id))
        .options(selectinload(Agreement.parties).selectinload(Organisation.names))
    ):
        for org in agreement.parties:
            if org.id != actor.organisation_id:
                found[org.code] = org
    return [(code, _org_name(found[code], lang, day)) for code in sorted(found)]


def organisations(lang: str, day: date | None = None) -> list[tuple[str, str]]:
    rows = db.session.scalars(
        select(Organisation).options(selectinload(Organisation.names)).order_by(Organisation.code)
    )
    return [(o.code, _org_name(o, lang, day)) for o in rows]


def _org_name(org: Organisation, lang: str, day: date | None) -> str:
    name = org.name_on(day)
    return name.name(lang) if name else org.code


def recent_cases(actor: Actor, keep: int | None = None) -> list[tuple[str, str]]:
    query = cases_visible_to(actor).order_by(Case.opened_on.desc(), Case.id.desc())
    rows = list(db.session.scalars(query.limit(RECENT_CASES)))
    if keep and all(c.id != keep for c in rows):
        extra = db.session.scalar(cases_visible_to(actor).where(Case.id == keep))
        if extra is not None:
            rows.insert(0, extra)
    return [(str(c.id), case_label(actor, c)) for c in rows]


def case_reference(actor: Actor, case: Case) -> str:
    """The case's reference as shown to ``actor``: a partner's prefixed with its owner's
    code ("KM · A-1"), since references are unique per organisation and a partner may
    use one of ours."""
    if case.owner_organisation_id == actor.organisation_id:
        return case.reference
    return f"{case.owner.code} · {case.reference}"


def case_label(actor: Actor, case: Case) -> str:
    """ "reference – title", the reference as `case_reference` shows it."""
    return f"{case_reference(actor, case)} – {case.title}"


def places(lang: str, day: date | None) -> dict[str, list[tuple[str, str]]]:
    """Places valid on `day`, by picker: province, district, locality, border gate.

    Districts, villages and communes are grouped under their parent's name so a
    picker without JavaScript still reads as province → district → village.
    """
    day = day or date.today()
    rows = list(
        db.session.scalars(
            select(Place)
            .where(or_(Place.valid_from.is_(None), Place.valid_from <= day))
            .where(or_(Place.valid_to.is_(None), Place.valid_to >= day))
            .order_by(Place.country.desc(), Place.code)
        )
    )
    by_id = {p.id: p for p in rows}

    def label(place: Place) -> str:
        parent = by_id.get(place.parent_id) if place.parent_id else None
        return f"{parent.name(lang)} › {place.name(lang)}" if parent else place.name(lang)

    out: dict[str, list[tuple[str, str]]] = {
        "province": [],
        "district": [],
        "locality": [],
        "border_gate": [],
    }
    for place in rows:
        key = "locality" if place.kind in ("commune", "village") else place.kind
        if key in out:
            out[key].append((place.code, label(place)))
    return out
