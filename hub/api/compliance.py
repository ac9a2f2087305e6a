"""GET /api/v1/agreements/<code>/compliance: the evaluation as JSON (parties only)."""

from __future__ import annotations

from flask import g, jsonify
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields

from hub.api import api
from hub.api.errors import token_required
from hub.api.input import load_query
from hub.api.schemas import BaseSchema, Date, String, length, one_of
from hub.compliance.rules import STATES
from hub.operations import compliance


class ComplianceQuery(BaseSchema):
    """The period (ISO dates, both included; default: the current year) and a partner."""

    from_ = Date(data_key="from", metadata={"description": "First day (YYYY-MM-DD)"})
    to = Date(metadata={"description": "Last day, included (YYYY-MM-DD); default today"})
    partner = String(
        validate=length(1, 16),
        metadata={"description": "Organisation code of one party: only exchanges with it"},
    )


class ObligationResultOut(Schema):
    kind = fields.String(required=True)
    params = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    state = fields.String(required=True, validate=one_of(STATES))
    figures = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(allow_none=True),
        required=True,
        metadata={"description": "Counts, rates (0..1), days or hours; null when undefined"},
    )
    evidence = fields.List(
        fields.Integer(),
        required=True,
        metadata={"description": "Ids of the exchanges that make the state (first 50)"},
    )
    evidence_total = fields.Integer(required=True)


class MonthlyCountOut(Schema):
    month = fields.String(required=True, metadata={"description": "YYYY-MM in UTC+7"})
    sender = fields.String(required=True)
    recipient = fields.String(required=True)
    kind = fields.String(required=True)
    count = fields.Integer(required=True)


class ExchangesSummaryOut(Schema):
    total = fields.Integer(required=True)
    monthly = fields.List(fields.Nested(MonthlyCountOut), required=True)


class CheckpointOut(Schema):
    size = fields.Integer(required=True)
    signed_at = fields.String(required=True, allow_none=True)


class AuditStatusOut(Schema):
    log = fields.String(required=True)
    size = fields.Integer(required=True)
    status = fields.String(required=True, validate=one_of(("never", "ok", "failed")))
    verified_at = fields.String(required=True, allow_none=True)
    verified_message = fields.String(required=True, allow_none=True)
    checkpoint = fields.Nested(CheckpointOut, required=True, allow_none=True)


class ComplianceOut(Schema):
    agreement = fields.String(required=True)
    from_ = fields.String(data_key="from", required=True)
    to = fields.String(required=True)
    partner = fields.String(required=True, allow_none=True)
    as_of = fields.String(required=True)
    obligations = fields.List(fields.Nested(ObligationResultOut), required=True)
    exchanges = fields.Nested(ExchangesSummaryOut, required=True)
    overdue = fields.List(fields.Integer(), required=True)
    audit = fields.Nested(AuditStatusOut, required=True)


@api.get("/agreements/<code>/compliance")
@token_required
def agreement_compliance(code: str) -> ResponseReturnValue:
    compliance.agreement_for(g.actor, code)  # a non-party learns nothing, not even errors
    args = load_query(ComplianceQuery())
    start, end = args.get("from_"), args.get("to")
    report = compliance.review(
        g.actor,
        code,
        start=start.isoformat() if start else None,
        end=end.isoformat() if end else None,
        partner=args.get("partner"),
    )
    return jsonify(report.as_dict())
