"""Appending entries to the logs (provisional store: entries only, no tree yet)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import select

from hub.extensions import db
from hub.models import Agreement, AuditEntry, AuditLog
from hub.models.audit import HUB_LOG
from hub.models.base import utcnow
from hub.operations.actor import Actor


def _log_for(name: str) -> AuditLog:
    log = db.session.scalar(select(AuditLog).where(AuditLog.name == name).with_for_update())
    if log is None:
        agreement = None
        if name != HUB_LOG:
            agreement = db.session.scalar(select(Agreement).where(Agreement.code == name))
        log = AuditLog(name=name, agreement_id=agreement.id if agreement else None, size=0)
        db.session.add(log)
        db.session.flush()
    return log


def record(
    action: str,
    *,
    actor: Actor,
    target_type: str,
    target_id: object,
    logs: Iterable[str] = (),
    details: dict | None = None,
) -> None:
    """Append one entry to each named log (agreement codes), or to the hub log when none."""
    now = utcnow()
    for name in sorted(set(logs)) or [HUB_LOG]:
        log = _log_for(name)
        body = {
            "action": action,
            "actor": actor.username,
            "details": details or {},
            "index": log.size,
            "log": name,
            "organisation": actor.organisation_code,
            "target_id": str(target_id),
            "target_type": target_type,
            "time": now.isoformat(),
        }
        db.session.add(
            AuditEntry(
                log_id=log.id,
                index=log.size,
                created_at=now,
                actor=actor.username,
                organisation=actor.organisation_code,
                action=action,
                target_type=target_type,
                target_id=str(target_id),
                leaf_input=json.dumps(body, sort_keys=True).encode(),
            )
        )
        log.size += 1
        log.updated_at = now
