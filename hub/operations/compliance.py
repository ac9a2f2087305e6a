"""Compliance review: who may see an agreement's evaluation, and the audited exports."""

from __future__ import annotations

import hashlib
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from hub.compliance import periods
from hub.compliance.evaluate import Report, evaluate
from hub.errors import Message, NotFound, ValidationFailed
from hub.extensions import db
from hub.models import Agreement, Organisation, agreement_parties
from hub.operations import audit
from hub.operations.actor import Actor
from hub.operations.unit import operation

EXPORT_FORMATS = ("csv", "pdf")


def agreement_for(actor: Actor, code: str) -> Agreement:
    """The agreement when the actor's organisation is a party to it; else NotFound,
    the same answer as for an agreement that does not exist."""
    agreement: Agreement | None = db.session.scalar(select(Agreement).where(Agreement.code == code))
    if (
        agreement is None
        or actor.organisation_id is None
        or actor.organisation_id not in {p.id for p in agreement.parties}
    ):
        raise NotFound()
    return agreement


def partner_for(agreement: Agreement, code: str | None) -> Organisation | None:
    if not code:
        return None
    partner = next((p for p in agreement.parties if p.code == code), None)
    if partner is None:
        raise ValidationFailed.one(
            "partner", _l("This organisation is not a party to the agreement.")
        )
    return partner


@operation
def review(
    actor: Actor,
    code: str,
    *,
    start: str | None = None,
    end: str | None = None,
    kind: str | None = None,
    anchor: str | None = None,
    partner: str | None = None,
    today: date | None = None,
) -> Report:
    """Parse the period and partner, check access, evaluate.  Reads only.

    The agreement is checked first so a non-party learns nothing, not even
    whether its period was well formed.
    """
    agreement = agreement_for(actor, code)
    errors: dict[str, list[Message]] = {}
    period = None
    try:
        period = periods.resolve(start=start, end=end, kind=kind, anchor=anchor, today=today)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    organisation = None
    try:
        organisation = partner_for(agreement, partner)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    if errors or period is None:  # no period without an error saying why
        raise ValidationFailed(errors)
    report = evaluate(agreement, period, partner=organisation)
    # SQLite begins every transaction IMMEDIATE: end this read so writers are not held up.
    return report


@operation
def record_export(actor: Actor, report: Report, fmt: str, content: bytes) -> None:
    """Every export lands in the agreement's audit log, with a digest of what left."""
    if fmt not in EXPORT_FORMATS:
        raise ValidationFailed.one("format", _l("Unknown export format."))
    audit.record(
        "compliance_exported",
        actor=actor,
        target_type="agreement",
        target_id=report.agreement.code,
        logs=[report.agreement.code],
        details={
            "format": fmt,
            "from": report.period.start.isoformat(),
            "to": report.period.end.isoformat(),
            "partner": report.partner.code if report.partner else None,
            "sha256": hashlib.sha256(content).hexdigest(),
            "bytes": len(content),
        },
    )


def agreements_reviewed_by(actor: Actor) -> list[Agreement]:
    """The agreements whose compliance the actor reviews: their organisation's, by code."""
    return list(
        db.session.scalars(
            select(Agreement)
            .join(agreement_parties)
            .where(agreement_parties.c.organisation_id == actor.organisation_id)
            .order_by(Agreement.code)
        )
    )
