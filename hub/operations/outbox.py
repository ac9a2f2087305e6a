"""The outbox: sealed packages queued for partner hubs, in the transaction of the change.

Each operation that changes an exchange calls one function here before it
commits (``exchange_sent``, ``exchange_acknowledged``...). When the other party
of the exchange lives on a registered peer, the change is sealed into a package
(hub.operations.packages.seal_package: the same package, export record and audit
entry as `hub package export`) and an outbox row is added; the commit that keeps
the change keeps the row, and a rollback drops both. With no peer for that party
(a single hub, or a partner reached by USB only) nothing happens beyond one
indexed lookup.

The delivery worker (hub.operations.delivery) drains the rows; `hub peer
export-queue` writes the same packages to files; a receipt recorded either way
(``receipt_recorded``) marks the row received.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.crypto.sealing import Sealed
from hub.extensions import db
from hub.models import (
    Attachment,
    Exchange,
    ExchangeTranslation,
    OutboxItem,
    PackageReceipt,
    Peer,
    PeerOrganisation,
)
from hub.models.audit import HUB_LOG
from hub.models.base import utcnow
from hub.models.peer import DELIVERED, QUEUED, REFUSED
from hub.operations import audit, package_updates
from hub.operations.actor import Actor

#: Set in a session's info when it queued something: its commit wakes the worker.
QUEUED_FLAG: Final = "hub.peer_outbox_queued"
#: app.extensions key: the callbacks that wake this application's delivery workers.
_WAKERS: Final = "hub.outbox.wakers"


def on_commit_of_queued(app: Flask, callback: Callable[[], None]) -> None:
    """Call ``callback()`` after each commit of ``app``'s units that queued a package
    (the worker's wake-up)."""
    app.extensions.setdefault(_WAKERS, []).append(callback)


def wake_workers(session: Session) -> None:
    """Unit step after the commit: the queued packages are committed, wake the workers."""
    if session.info.pop(QUEUED_FLAG, False):
        for callback in list(current_app.extensions.get(_WAKERS, ())):
            callback()


def forget_queued(session: Session) -> None:
    """Unit step after a rollback: nothing was queued after all."""
    session.info.pop(QUEUED_FLAG, None)


def _peer_for(org_code: str) -> Peer | None:
    return db.session.scalar(
        select(Peer)
        .join(PeerOrganisation)
        .where(PeerOrganisation.org_code == org_code, Peer.removed_at.is_(None))
    )


def _queue(
    actor: Actor,
    exchange: Exchange,
    exporter: str,
    to_org: str,
    kind: str,
    *,
    rows: list[Exchange] | None = None,
    updates: list[dict[str, Any]] | None = None,
    items: list[Sealed] | None = None,
) -> OutboxItem | None:
    peer = _peer_for(to_org)
    if peer is None:
        return None
    from hub.operations.packages import seal_package  # packages imports this module

    db.session.flush()
    exported = seal_package(
        actor, exchange, exporter, to_org, rows or [], updates=updates, update_items=items
    )
    row = OutboxItem(
        peer_id=peer.id,
        exchange_id=exchange.id,
        kind=kind,
        package_sha256=exported.digest,
        package_json=exported.text,
        exporter_org=exporter,
        recipient_org=to_org,
        status=QUEUED,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    db.session.add(row)
    db.session.info[QUEUED_FLAG] = True
    return row


def _other(exchange: Exchange, org: str) -> str:
    return exchange.recipient.code if org == exchange.sender.code else exchange.sender.code


def exchange_sent(actor: Actor, exchange: Exchange) -> None:
    """A new exchange (request, response, alert, forwarded copy...) for its recipient."""
    _queue(
        actor, exchange, exchange.sender.code, exchange.recipient.code, "exchange", rows=[exchange]
    )


def exchange_acknowledged(actor: Actor, exchange: Exchange) -> None:
    update = package_updates.acknowledged(exchange)
    _queue(
        actor,
        exchange,
        exchange.recipient.code,
        exchange.sender.code,
        "acknowledgement",
        updates=[update],
    )


def exchange_closed(actor: Actor, exchange: Exchange) -> None:
    update = package_updates.closed(exchange)
    _queue(
        actor, exchange, exchange.sender.code, exchange.recipient.code, "closure", updates=[update]
    )


def translation_added(actor: Actor, exchange: Exchange, row: ExchangeTranslation) -> None:
    db.session.flush()
    update, sealed = package_updates.translation(exchange, row)
    org = actor.organisation_code
    _queue(
        actor, exchange, org, _other(exchange, org), "translation", updates=[update], items=[sealed]
    )


def attachment_added(actor: Actor, exchange: Exchange, row: Attachment) -> None:
    db.session.flush()
    update, sealed = package_updates.attachment(exchange, row)
    _queue(
        actor,
        exchange,
        exchange.sender.code,
        exchange.recipient.code,
        "attachment",
        updates=[update],
        items=[sealed],
    )


def audit_package(actor: Actor, action: str, row: OutboxItem, answer: str | None) -> None:
    """An entry about one queued package (refused by the peer, queued again...), in the
    hub log and the log of its exchange's agreement, with the peer's answer."""
    audit.record(
        action,
        actor=actor,
        target_type="exchange",
        target_id=row.exchange_id,
        logs=sorted({HUB_LOG, row.exchange.agreement.code}),
        details={
            "peer": row.peer.name,
            "package": row.kind,
            "package_sha256": row.package_sha256,
            "answer": answer,
        },
    )


def receipt_recorded(package_sha256: str) -> None:
    """The partner's signed receipt for one of our packages is recorded: received (a
    refused one too, carried by USB after the cause was fixed at the partner)."""
    row = db.session.scalar(select(OutboxItem).where(OutboxItem.package_sha256 == package_sha256))
    if row is not None and row.status != DELIVERED:
        row.status = DELIVERED
        row.delivered_at = utcnow()


# --- what officers see per exchange ----------------------------------------------

NOT_SHARED: Final = "none"
STATE_QUEUED: Final = "queued"
STATE_DELIVERED: Final = "delivered"
STATE_RECEIVED: Final = "received"
STATE_REFUSED: Final = "refused"


def delivery_state(exchange: Exchange) -> dict[str, Any] | None:
    """Queued / delivered / received by the partner, or refused by it (one of its
    packages, with the partner's answer: that part never arrived), for an exchange whose
    other party lives on a peer (None when nothing of it was ever queued)."""
    rows = list(
        db.session.scalars(
            select(OutboxItem).where(OutboxItem.exchange_id == exchange.id).order_by(OutboxItem.id)
        )
    )
    if not rows:
        return None
    first = rows[0]
    waiting = [r for r in rows if r.status == QUEUED]
    receipts = dict(
        db.session.execute(
            select(PackageReceipt.package_sha256, PackageReceipt.received_at).where(
                PackageReceipt.package_sha256.in_([r.package_sha256 for r in rows])
            )
        ).all()
    )
    refused = [r for r in rows if r.status == REFUSED]
    if refused:
        state = STATE_REFUSED
    elif waiting:
        state = STATE_QUEUED
    elif len(receipts) == len(rows):
        state = STATE_RECEIVED
    else:
        state = STATE_DELIVERED
    return {
        "state": state,
        "peer": first.peer.name,
        "queued": len(waiting),
        "refused": len(refused),
        "refused_kind": refused[-1].kind if refused else None,
        "refused_answer": refused[-1].last_error if refused else None,
        "packages": len(rows),
        "attempts": max(r.attempts for r in waiting) if waiting else 0,
        "last_error": waiting[0].last_error if waiting else None,
        "last_attempt_at": waiting[0].last_attempt_at if waiting else None,
        "delivered_at": max((r.delivered_at for r in rows if r.delivered_at), default=None),
        "received_at": max(receipts.values(), default=None),
    }
