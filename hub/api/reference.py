"""Read-only reference data: organisations and agreements."""

from __future__ import annotations

from flask import g, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from hub.api import api
from hub.api.errors import token_required
from hub.extensions import db
from hub.i18n import current_language
from hub.models import Agreement, Organisation
from hub.operations import scope


def _organisation(org: Organisation) -> dict:
    name = org.name_on()
    if name is None:  # every organisation is made with its names (hub.reference)
        raise RuntimeError(f"organisation {org.code} has no name")
    return {
        "code": org.code,
        "country": org.country,
        "kind": org.kind,
        "name": name.name(current_language()),
        "names": {"vi": name.name_vi, "lo": name.name_lo, "en": name.name_en},
    }


def _agreement(agreement: Agreement) -> dict:
    return {
        "code": agreement.code,
        "kind": agreement.kind,
        "title": agreement.title(current_language()),
        "titles": {"vi": agreement.title_vi, "lo": agreement.title_lo, "en": agreement.title_en},
        "sample": agreement.is_sample,
        "signed_on": agreement.signed_on.isoformat() if agreement.signed_on else None,
        "effective_from": agreement.effective_from.isoformat()
        if agreement.effective_from
        else None,
        "effective_to": agreement.effective_to.isoformat() if agreement.effective_to else None,
        "parties": [p.code for p in agreement.parties],
        "obligations": [
            {"kind": o.kind, "params": o.params} for o in agreement.obligations if o.active
        ],
    }


@api.get("/organisations")
@token_required
def list_organisations() -> ResponseReturnValue:
    rows = db.session.scalars(select(Organisation).order_by(Organisation.code))
    return jsonify({"items": [_organisation(o) for o in rows]})


@api.get("/agreements")
@token_required
def list_agreements() -> ResponseReturnValue:
    rows = db.session.scalars(scope.agreements_visible_to(g.actor))
    return jsonify({"items": [_agreement(a) for a in rows]})


@api.get("/agreements/<code>")
@token_required
def get_agreement(code: str) -> ResponseReturnValue:
    return jsonify(_agreement(scope.get_agreement(g.actor, code)))
