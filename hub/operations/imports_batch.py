"""Writing imported exchanges in batches: the rows `exchanges.send` writes, in fewer statements.

Each row is validated on its own by `exchanges.validate` (the rules of `send`,
writing nothing), then handed to `ExchangeBatch.add` with the column values of
`exchanges.row_values`. From there on, what `send` does for one row is done
for many:

- ids for the exchange and its sealed payload are taken ahead (a payload's
  binding names its record's id; see `_Ids`);
- the body is sealed at once, on its own (HPKE, a fresh data key per payload,
  as `content.seal_json`; the keys are looked up once per run);
- payloads, their wraps and the exchanges go in as multi-row INSERTs when the
  batch is full, or earlier when a later row replies to one of them;
- the ``exchange_sent`` entries, with the details `send` writes, go to each
  agreement's log in row order with one batch append per log
  (`hub.audit.log.append_many`: the same tree as appending them one by one).

Nothing here commits; the importer's transaction holds the whole file.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, func, select, text

from hub.audit import log
from hub.crypto import payloads, service
from hub.crypto.sealing import Sealed
from hub.crypto.sealing import seal as seal_envelope
from hub.extensions import db
from hub.models import Exchange, PayloadWrap, SealedPayload
from hub.models.base import utcnow
from hub.operations import audit, content, exchanges
from hub.operations.actor import Actor

#: Rows per flush: enough to amortise the statements, small enough to keep memory flat.
BATCH = 1000


class _Ids:
    """Fresh ids for one table, handed out ahead of the insert (a payload's binding
    names its record's id). PostgreSQL: taken from the table's sequence, a block at a
    time (unused ones are a gap, as after any rollback). SQLite: the transaction was
    begun IMMEDIATE (hub.database), so it holds the write lock and only this run
    inserts: the next ids follow the table's largest."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.free: list[int] = []
        self.next: int | None = None

    def take(self) -> int:
        connection = db.session.connection()
        if connection.dialect.name != "postgresql":
            if self.next is None:
                self.next = (
                    1
                    + connection.execute(
                        select(func.coalesce(func.max(self.table.c.id), 0))
                    ).scalar_one()
                )
            self.next += 1
            return self.next - 1
        if not self.free:
            found = connection.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"
                ),
                {"t": self.table.name, "n": BATCH},
            ).scalars()
            self.free = sorted((int(i) for i in found), reverse=True)
        return self.free.pop()


class ExchangeBatch:
    """Seal validated exchanges as they come; write them a batch at a time.

    Rows and log entries are written separately: `write_rows` puts the queued
    exchanges in the database (one statement on PostgreSQL, three executemany
    INSERTs on SQLite) when the batch is full or a later row's checks must read
    one of them (a reply); `flush` also appends their audit entries, in row order.
    """

    def __init__(self, size: int | None = None) -> None:
        self.size = size or BATCH
        self.exchange_ids = _Ids(Exchange.__table__)
        self.payload_ids = _Ids(SealedPayload.__table__)
        self.readers: dict[str, tuple] = {}
        self.signers: dict[str, tuple] = {}
        self.payload_rows: list[dict] = []
        self.wrap_rows: list[dict] = []
        self.exchange_rows: list[dict] = []
        self.unwritten: set[int] = set()
        #: (log name, entry) in row order, not yet appended.
        self.entries: list[tuple[str, log.Pending]] = []

    def add(
        self,
        actor: Actor,
        data: exchanges.NewExchange,
        checked: exchanges.Checked,
        values: dict[str, Any],
    ) -> int:
        """Seal one validated exchange and queue its rows and its ``exchange_sent``
        entry; returns its id. ``actor`` records it (audit entries, signature)."""
        exchange_id, payload_id = self.exchange_ids.take(), self.payload_ids.take()
        # The recording organisation seals and signs: for an exchange it sent, as
        # `send` does; for one it received, its transcript (the partner's signing
        # key is not on this hub). Both parties read it.
        sealer = actor.organisation_code
        parties = (checked.sender.code, checked.recipient.code)
        for org in parties:
            if org not in self.readers:
                self.readers[org] = service.public_enc(org)
        if sealer not in self.signers:
            self.signers[sealer] = service.signing_key(sealer)
        binding = payloads.binding_for(
            record_type="exchange",
            record_id=exchange_id,
            agreement=checked.agreement.code,
            sender=sealer,
            recipient=parties[1] if parties[0] == sealer else parties[0],
        )
        sealed = seal_envelope(
            content.canonical(exchanges.sealed_value(data, checked)),
            binding=binding,
            readers={org: self.readers[org] for org in sorted(set(parties))},
            signer=(sealer, *self.signers[sealer]),
        )
        self.payload_rows.append(_payload_row(sealed, payload_id, exchange_id, utcnow()))
        self.wrap_rows += [
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
        self.exchange_rows.append({**values, "id": exchange_id, "payload_id": payload_id})
        self.unwritten.add(exchange_id)
        entry = audit.pending(
            actor,
            "exchange_sent",
            target_type="exchange",
            target_id=exchange_id,
            details=exchanges.sent_details(values, checked, sealed.ciphertext_sha256),
        )
        self.entries.append((checked.agreement.code, entry))
        return exchange_id

    def add_entries(self, entries: list[tuple[str, log.Pending]]) -> None:
        """Queue more entries after those queued (see `hub.audit.log.collecting`)."""
        self.entries += entries

    def row_done(self) -> None:
        """Write what is queued when the batch is full."""
        if len(self.exchange_rows) >= self.size:
            self.flush()

    def write_rows(self) -> None:
        """Put the queued exchanges (and their payloads) in the database."""
        if not self.exchange_rows:
            return
        tables = (
            (SealedPayload.__table__, self.payload_rows),
            (PayloadWrap.__table__, self.wrap_rows),
            (Exchange.__table__, self.exchange_rows),
        )
        connection = db.session.connection()
        if connection.dialect.name == "postgresql":
            _insert_postgres(connection, tables)
        else:
            for table, rows in tables:
                connection.execute(table.insert(), rows)
        self.payload_rows, self.wrap_rows, self.exchange_rows = [], [], []
        self.unwritten.clear()

    def flush(self) -> None:
        """Write the queued rows and the session's changes, then append the queued
        entries in order."""
        self.write_rows()
        db.session.flush()  # e.g. the requests answered, a case's agreements
        entries, self.entries = self.entries, []
        by_log: dict[str, list[log.Pending]] = {}
        for name, entry in entries:
            by_log.setdefault(name, []).append(entry)
        # Logs in name order, as audit.record locks them, so no two writers deadlock.
        for name in sorted(by_log):
            log.append_many(db.session, name, by_log[name])


def _insert_postgres(connection, tables: tuple[tuple[Table, list[dict]], ...]) -> None:
    """All three tables in one statement, one round trip (the early writes for a
    reply's checks are frequent): each column travels as one array, spread by
    ``unnest``; the INSERTs of the WITH clause and the last one run as one
    statement, whose foreign keys are checked at its end, when all rows are in."""
    dialect = connection.dialect
    parts, params = [], []
    for table, rows in tables:
        names, arrays = [], []
        for column in table.columns:
            default = column.default.arg if column.default is not None else None
            values = [row.get(column.key, default) for row in rows]
            if callable(default):
                values = [v(None) if callable(v) else v for v in values]
            process = column.type.bind_processor(dialect)
            params.append([process(v) for v in values] if process else values)
            names.append(f'"{column.name}"')
            arrays.append(f"%(p{len(params) - 1})s::{column.type.compile(dialect=dialect)}[]")
        # Only our own table, column and type names are interpolated; values are parameters.
        insert = f"INSERT INTO {table.name} ({', '.join(names)})"
        parts.append(f"{insert} SELECT * FROM unnest({', '.join(arrays)})")  # noqa: S608  # nosec B608
    *first, last = parts
    query = "WITH " + ", ".join(f"t{i} AS ({p})" for i, p in enumerate(first)) + " " + last
    connection.exec_driver_sql(query, {f"p{i}": p for i, p in enumerate(params)})


def _payload_row(sealed: Sealed, payload_id: int, record_id: int, now) -> dict[str, Any]:
    """The columns `hub.crypto.payloads.store` writes for an envelope."""
    row = payloads.payload_row(sealed, record_type="exchange", record_id=record_id, created_at=now)
    return {"id": payload_id, **row}
