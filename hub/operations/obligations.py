"""Administrators edit an agreement's obligations; every change is audited to its log."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from hub.compliance.rules import validate_params
from hub.errors import Forbidden, NotFound, ValidationFailed
from hub.extensions import db
from hub.models import Agreement, Obligation
from hub.operations import audit
from hub.operations.actor import Actor
from hub.operations.unit import operation


def _agreement(actor: Actor, code: str) -> Agreement:
    if not actor.is_admin:
        raise Forbidden(_l("Only administrators change obligations."))
    agreement: Agreement | None = db.session.scalar(select(Agreement).where(Agreement.code == code))
    if agreement is None:
        raise NotFound()
    return agreement


def _obligation(agreement: Agreement, obligation_id: int) -> Obligation:
    found = next((o for o in agreement.obligations if o.id == obligation_id), None)
    if found is None:
        raise NotFound()
    return found


@operation
def add_obligation(actor: Actor, code: str, kind: str, params: dict[str, Any]) -> Obligation:
    """A new active obligation; one active obligation per kind and agreement."""
    agreement = _agreement(actor, code)
    clean, errors = validate_params(kind, params)
    if errors:
        raise ValidationFailed(errors)
    if agreement.obligation(kind) is not None:
        raise ValidationFailed.one("kind", _l("The agreement already has this obligation."))
    obligation = Obligation(kind=kind, params=clean, active=True, version=1)
    agreement.obligations.append(obligation)
    db.session.flush()
    audit.record(
        "obligation_added",
        actor=actor,
        target_type="obligation",
        target_id=obligation.id,
        logs=[agreement.code],
        details={"kind": kind, "params": clean, "version": 1},
    )
    return obligation


@operation
def update_obligation(
    actor: Actor, code: str, obligation_id: int, params: dict[str, Any], *, active: bool = True
) -> Obligation:
    """New parameters (and active flag); nothing changes unless every value is valid."""
    agreement = _agreement(actor, code)
    obligation = _obligation(agreement, obligation_id)
    clean, errors = validate_params(obligation.kind, params)
    if errors:
        raise ValidationFailed(errors)
    if active and not obligation.active and agreement.obligation(obligation.kind) is not None:
        raise ValidationFailed.one("active", _l("The agreement already has this obligation."))
    before = {"params": dict(obligation.params or {}), "active": obligation.active}
    if before == {"params": clean, "active": active}:
        return obligation  # nothing to change, nothing to audit
    obligation.params = clean
    obligation.active = active
    obligation.version = (obligation.version or 1) + 1
    audit.record(
        "obligation_changed",
        actor=actor,
        target_type="obligation",
        target_id=obligation.id,
        logs=[agreement.code],
        details={
            "kind": obligation.kind,
            "before": before,
            "after": {"params": clean, "active": active},
            "version": obligation.version,
        },
    )
    return obligation
