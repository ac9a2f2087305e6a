"""Loading reference data: idempotent, so `hub init` twice changes nothing and loses nothing."""

from __future__ import annotations

from sqlalchemy import select

from hub import reference
from hub.extensions import db
from hub.models import Agreement, Obligation, Organisation, OrganisationName, Place
from hub.operations import audit
from hub.operations.actor import SYSTEM
from hub.operations.unit import operation


@operation
def load_reference_data() -> dict[str, int]:
    """Insert what is missing; never overwrite what an administrator may have edited."""
    added = {"organisations": 0, "places": 0, "agreements": 0}
    orgs = {o.code: o for o in db.session.scalars(select(Organisation))}
    for spec in reference.ORGANISATIONS:
        if spec["code"] in orgs:
            continue
        org = Organisation(code=spec["code"], country=spec["country"], kind=spec["kind"])
        org.names = [OrganisationName(**name) for name in spec["names"]]
        db.session.add(org)
        orgs[org.code] = org
        added["organisations"] += 1
    db.session.flush()

    places = {p.code: p for p in db.session.scalars(select(Place))}
    for code, kind, country, parent, start, end, _succ, vi, lo, en in reference.PLACES:
        if code in places:
            continue
        place = Place(
            code=code,
            kind=kind,
            country=country,
            valid_from=start,
            valid_to=end,
            name_vi=vi,
            name_lo=lo,
            name_en=en,
            parent=places.get(parent) if parent else None,
        )
        db.session.add(place)
        places[code] = place
        added["places"] += 1
    db.session.flush()
    for code, *_rest, successor, _vi, _lo, _en in reference.PLACES:
        if successor and places[code].successor_id is None:
            places[code].successor_id = places[successor].id

    existing = set(db.session.scalars(select(Agreement.code)))
    for agreement_spec in reference.AGREEMENTS:
        if agreement_spec["code"] in existing:
            continue
        agreement = Agreement(
            code=agreement_spec["code"],
            kind=agreement_spec["kind"],
            title_vi=agreement_spec["title_vi"],
            title_lo=agreement_spec["title_lo"],
            title_en=agreement_spec["title_en"],
            signed_on=agreement_spec["signed_on"],
            effective_from=agreement_spec["effective_from"],
            effective_to=agreement_spec.get("effective_to"),
            is_sample=True,
            parties=[orgs[c] for c in agreement_spec["parties"]],
            obligations=[
                Obligation(kind=k, params=dict(p)) for k, p in agreement_spec["obligations"]
            ],
        )
        db.session.add(agreement)
        db.session.flush()
        audit.record(
            "agreement_created",
            actor=SYSTEM,
            target_type="agreement",
            target_id=agreement.code,
            logs=[agreement.code],
            details={"sample": True, "parties": agreement_spec["parties"]},
        )
        added["agreements"] += 1
    if any(added.values()):
        audit.record(
            "reference_data_loaded",
            actor=SYSTEM,
            target_type="hub",
            target_id="reference",
            details=added,
        )
    return added
