"""Writing imported exchanges in batches: the rows `exchanges.send` writes, in fewer statements.

Each row is validated on its own by `exchanges.validate` (the rules of `send`,
writing nothing) and queued with the column values of `exchanges.row_values`.
A flush then writes a batch the way `send` writes one row, only grouped:

- ids for the exchanges and their sealed payloads are taken first (PostgreSQL's
  sequences; on SQLite the transaction holds the database's write lock, so the
  next ids are the table's largest plus one), because a payload's binding names
  its record's id;
- every body is sealed on its own (HPKE, one fresh data key per payload, as
  `content.seal_json`), with the keys looked up once per batch;
- payloads, their wraps and the exchanges go in as multi-row INSERTs;
- the ``exchange_sent`` entries, with the details `send` writes, go to each
  agreement's log with one batch append (`hub.audit.log.append_many`): the same
  tree as appending them one by one.

Nothing here commits; the importer's transaction holds the whole file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, func, select, text

from hub.audit import log
from hub.crypto import payloads, service
from hub.crypto.sealing import Sealed, canonical_json
from hub.crypto.sealing import seal as seal_envelope
from hub.extensions import db
from hub.models import Exchange, PayloadWrap, SealedPayload
from hub.models.base import utcnow
from hub.operations import content, exchanges
from hub.operations.actor import Actor

#: Rows per flush: enough to amortise the statements, small enough to keep memory flat.
BATCH = 1000


@dataclass
class Queued:
    """One validated row waiting to be written; ``id`` is set when it is."""

    actor: Actor  # who records it: the importing officer (audit entries, signature)
    data: exchanges.NewExchange
    checked: exchanges.Checked
    values: dict[str, Any]
    id: int | None = None


class ExchangeBatch:
    """Queue validated exchanges; `flush` writes what is queued."""

    def __init__(self, size: int | None = None) -> None:
        self.size = size or BATCH
        self.pending: list[Queued] = []

    def add(self, item: Queued) -> Queued:
        self.pending.append(item)
        if len(self.pending) >= self.size:
            self.flush()
        return item

    def flush(self) -> None:
        items, self.pending = self.pending, []
        if items:
            _write(items)


def _write(items: list[Queued]) -> None:
    session = db.session
    session.flush()  # ORM changes queued before (e.g. a case's agreements) go first
    exchange_ids = _allocate(Exchange.__table__, len(items))
    payload_ids = _allocate(SealedPayload.__table__, len(items))
    readers: dict[str, tuple] = {}
    signers: dict[str, tuple] = {}
    now = utcnow()
    payload_rows, wrap_rows, exchange_rows = [], [], []
    entries: dict[str, list[log.Pending]] = {}
    for item, exchange_id, payload_id in zip(items, exchange_ids, payload_ids, strict=True):
        item.id = exchange_id
        checked = item.checked
        # The recording organisation seals and signs: for an exchange it sent, as
        # `send` does; for one it received, its transcript (the partner's signing
        # key is not on this hub). Both parties read it.
        sealer = item.actor.organisation_code
        parties = (checked.sender.code, checked.recipient.code)
        other = parties[1] if parties[0] == sealer else parties[0]
        for org in parties:
            if org not in readers:
                readers[org] = service.public_enc(org)
        if sealer not in signers:
            signers[sealer] = service.signing_key(sealer)
        binding = payloads.binding_for(
            record_type="exchange",
            record_id=exchange_id,
            agreement=checked.agreement.code,
            sender=sealer,
            recipient=other,
        )
        sealed = seal_envelope(
            content.canonical(exchanges.sealed_value(item.data, checked)),
            binding=binding,
            readers={org: readers[org] for org in sorted(set(parties))},
            signer=(sealer, *signers[sealer]),
        )
        payload_rows.append(_payload_row(sealed, payload_id, exchange_id, now))
        wrap_rows += [
            {
                "payload_id": payload_id,
                "org_code": org,
                "key_version": w.version,
                "kem": w.suite,
                "fingerprint": w.fingerprint,
                "enc": w.enc,
            }
            for org, w in sorted(sealed.wraps.items())
        ]
        exchange_rows.append({**item.values, "id": exchange_id, "payload_id": payload_id})
        entries.setdefault(checked.agreement.code, []).append(
            log.Pending(
                actor=item.actor,
                action="exchange_sent",
                target_type="exchange",
                target_id=exchange_id,
                details=exchanges.sent_details(item.values, checked, sealed.ciphertext_sha256),
            )
        )
    connection = session.connection()
    connection.execute(SealedPayload.__table__.insert(), payload_rows)
    connection.execute(PayloadWrap.__table__.insert(), wrap_rows)
    connection.execute(Exchange.__table__.insert(), exchange_rows)
    # Logs in name order, as audit.record locks them, so no two writers deadlock.
    for name in sorted(entries):
        log.append_many(session, name, entries[name])


def _payload_row(sealed: Sealed, payload_id: int, record_id: int, now) -> dict[str, Any]:
    """The columns `hub.crypto.payloads.store` writes for an envelope."""
    return {
        "id": payload_id,
        "record_type": "exchange",
        "record_id": str(record_id),
        "binding_json": canonical_json(dict(sealed.binding)).decode("utf-8"),
        "envelope_version": sealed.version,
        "suite": sealed.cipher,
        "nonce": sealed.nonce,
        "key_commitment": sealed.key_commitment,
        "ciphertext": sealed.ciphertext,
        "ciphertext_sha256": sealed.ciphertext_sha256,
        "signer_org": sealed.signer_org,
        "signer_key_version": sealed.signer_version,
        "signer_fingerprint": sealed.signer_fingerprint,
        "signature": sealed.signature,
        "imported": False,
        "created_at": now,
    }


def _allocate(table: Table, count: int) -> list[int]:
    """``count`` fresh ids for ``table``, ascending."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        found = connection.execute(
            text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
            {"t": table.name, "n": count},
        ).scalars()
        return sorted(int(i) for i in found)
    # SQLite: the transaction was begun IMMEDIATE (hub.database), so it holds the
    # write lock and nobody else can take these ids before it commits.
    largest = connection.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
    return list(range(largest + 1, largest + 1 + count))
