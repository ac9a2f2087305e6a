"""/api/v1/cases: open, list, read, edit, change status, add seizures and suspects."""

from __future__ import annotations

from datetime import datetime

from flask import g, jsonify
from flask.typing import ResponseReturnValue

from hub.api import api
from hub.api import schemas as s
from hub.api.errors import token_required
from hub.api.input import load_json, load_query
from hub.extensions import db
from hub.models import Case, Exchange, Place
from hub.models.base import utcnow
from hub.operations import cases, checks, listing, permissions
from hub.operations.scope import exchanges_visible_to


def _code(place: Place | None) -> str | None:
    return place.code if place is not None else None


def case_json(
    row: Case,
    *,
    suspects: list[cases.SuspectView] | None = None,
    exchanges: list[Exchange] | None = None,
    now: datetime | None = None,
) -> dict:
    data = {
        "id": row.id,
        "reference": row.reference,
        "title": row.title,
        "status": row.status,
        "allowed_statuses": list(cases.allowed_statuses(row)),
        "opened_on": row.opened_on.isoformat(),
        "closed_on": row.closed_on.isoformat() if row.closed_on else None,
        "owner": row.owner.code,
        "organisations": sorted(o.code for o in row.organisations),
        "agreements": sorted(a.code for a in row.agreements),
        "province": _code(row.province),
        "district": _code(row.district),
        "locality": _code(row.locality),
        "border_gate": _code(row.border_gate),
        "place_note": row.place_note,
        "seizures": [
            {
                "id": z.id,
                "drug_type": z.drug_type,
                "quantity": str(z.quantity),
                "unit": z.unit,
                "seized_on": z.seized_on.isoformat() if z.seized_on else None,
            }
            for z in row.seizures
        ],
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }
    if suspects is not None:
        data["suspects"] = [vars(v) for v in suspects]
    if exchanges is not None:
        now = now or utcnow()
        data["exchanges"] = [
            {
                "id": e.id,
                "kind": e.kind,
                "subject": e.subject,
                "sent_at": e.sent_at.isoformat(),
                "overdue": e.overdue(now),
            }
            for e in exchanges
        ]
    return data


def _detail(case_id: int, status: int = 200) -> ResponseReturnValue:
    row = cases.load_for_view(g.actor, case_id)
    linked = list(
        db.session.scalars(
            exchanges_visible_to(g.actor)
            .where(Exchange.case_id == row.id)
            .order_by(Exchange.sent_at.desc(), Exchange.id.desc())
            .limit(200)
        )
    )
    suspects = cases.read_suspects(g.actor, row)
    return jsonify(case_json(row, suspects=suspects, exchanges=linked)), status


def _case_input(data: dict, current: Case | None = None) -> cases.CaseInput:
    """The full input for the operation: given fields over the case's current values."""
    base = {}
    if current is not None:
        base = {
            "title": current.title,
            "reference": current.reference,
            "opened_on": current.opened_on,
            "province": _code(current.province),
            "district": _code(current.district),
            "locality": _code(current.locality),
            "border_gate": _code(current.border_gate),
            "place_note": current.place_note,
            "organisations": [
                o.code for o in current.organisations if o.id != current.owner_organisation_id
            ],
            "agreements": [a.code for a in current.agreements],
        }
    merged = {**base, **{k: v for k, v in data.items() if k not in ("seizures", "suspects")}}
    if merged.get("place_note") is None:
        merged["place_note"] = ""
    for name in ("organisations", "agreements"):
        if merged.get(name) is None:
            merged[name] = []
    return cases.CaseInput(**merged)


@api.post("/cases")
@token_required
def create_case() -> ResponseReturnValue:
    checks.require_officer(g.actor)  # before the body: a refusal never depends on it
    data = load_json(s.CaseCreate())
    seizures = [cases.SeizureInput(**z, locale="en") for z in data.get("seizures", [])]
    suspects = [cases.SuspectInput(**p) for p in data.get("suspects", [])]
    row = cases.create_case(g.actor, _case_input(data), seizures=seizures, suspects=suspects)
    return _detail(row.id, 201)


@api.get("/cases")
@token_required
def list_cases() -> ResponseReturnValue:
    args = load_query(s.CaseListQuery())
    page, per_page, cursor = args.pop("page", None), args.pop("per_page"), args.pop("cursor", None)
    result = listing.list_cases(
        g.actor, listing.CaseFilters(**args), page=page, per_page=per_page, cursor=cursor
    )
    return jsonify(
        {
            "items": [case_json(row) for row in result.items],
            "page": result.page,
            "per_page": result.per_page,
            "has_next": result.has_next,
            "next_cursor": result.next_cursor,
        }
    )


@api.get("/cases/<int:case_id>")
@token_required
def get_case(case_id: int) -> ResponseReturnValue:
    return _detail(case_id)


@api.patch("/cases/<int:case_id>")
@token_required
def update_case(case_id: int) -> ResponseReturnValue:
    current = permissions.case_for(g.actor, case_id, "edit")
    data = load_json(s.CaseUpdate())
    cases.update_case(g.actor, case_id, _case_input(data, current))
    return _detail(case_id)


@api.post("/cases/<int:case_id>/status")
@token_required
def change_case_status(case_id: int) -> ResponseReturnValue:
    permissions.case_for(g.actor, case_id, "status")
    data = load_json(s.CaseStatusChange())
    cases.change_status(g.actor, case_id, data["status"])
    return _detail(case_id)


@api.post("/cases/<int:case_id>/seizures")
@token_required
def add_seizure(case_id: int) -> ResponseReturnValue:
    permissions.case_for(g.actor, case_id, "seizure")
    data = load_json(s.SeizureIn())
    cases.add_seizure(g.actor, case_id, cases.SeizureInput(**data, locale="en"))
    return _detail(case_id, 201)


@api.post("/cases/<int:case_id>/suspects")
@token_required
def add_suspect(case_id: int) -> ResponseReturnValue:
    permissions.case_for(g.actor, case_id, "suspect")
    data = load_json(s.SuspectIn())
    cases.add_suspect(g.actor, case_id, cases.SuspectInput(**data))
    return _detail(case_id, 201)
