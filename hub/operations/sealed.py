"""Sealed records: a row whose content is sealed, linked to its payload and audited.

The one sequence every sealed record goes through, whatever the record (an
exchange, a translation, an attachment, a suspect, a forwarded copy):

1. the row gets its id (a binding names its record's id);
2. the content is sealed (`hub.operations.payloads.envelope`) for the readers, signed
   by the recording organisation, bound to the record;
3. the payload and its wraps are stored, and the row is linked to the payload;
4. the audit entry is written, its details carrying the ciphertext's digest.

`add` does it for one row, now (pages, API, operations). `Batch` does the same
steps for many exchange rows (the importer): the same envelope, the same payload
and wrap rows, the same entry, but with ids taken ahead and the rows written a
batch at a time (multi-row INSERTs; one statement on PostgreSQL) and the entries
appended to each log with one batch append (`hub.audit.log.append_many`, the same
tree as appending them one by one). A package's items arrive sealed already:
`store_sealed` does steps 1 and 3 for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, select, text, update
from sqlalchemy.orm.attributes import set_committed_value

from hub.audit import log
from hub.crypto.sealing import Sealed
from hub.extensions import db
from hub.models import PayloadWrap, SealedPayload
from hub.models.base import utcnow
from hub.operations import audit, payloads
from hub.operations.actor import Actor

#: Rows per batch: enough to amortise the statements, small enough to keep memory flat.
BATCH = 1000

#: An entry's details: a dict, or a function of the new row's id giving one.
Details = dict[str, Any] | Callable[[int], dict[str, Any]]


def _details(details: Details, record_id: int, sealed: Sealed) -> dict[str, Any]:
    values = details(record_id) if callable(details) else dict(details)
    return {**values, "payload_sha256": sealed.ciphertext_sha256}


def _link(row: Any, payload_id: int) -> None:
    """One plain UPDATE, the row left clean: a unit-of-work flush of this one column
    costs several times more."""
    table = row.__table__
    db.session.execute(
        update(table).where(table.c.id == bindparam("row")).values(payload_id=bindparam("payload")),
        {"row": row.id, "payload": payload_id},
    )
    set_committed_value(row, "payload_id", payload_id)


def add(
    actor: Actor,
    row: Any,
    *,
    record_type: str,
    agreement: str | None,
    recipient: str | None,
    readers: list[str],
    content: bytes,
    action: str,
    logs: list[str],
    details: Details,
    target_type: str | None = None,
    target_id: int | None = None,
) -> SealedPayload:
    """Add ``row``, seal ``content`` for it (signed by the actor's organisation), link
    the payload, and audit ``action`` (target: the row itself unless named). Returns
    the payload row."""
    db.session.add(row)
    db.session.flush()
    sealed = payloads.envelope(
        record_type=record_type,
        record_id=row.id,
        agreement=agreement,
        sender=actor.organisation_code,
        recipient=recipient,
        readers=readers,
        content=content,
    )
    payload = payloads.store(sealed, record_type=record_type, record_id=row.id)
    _link(row, payload.id)
    audit.record(
        action,
        actor=actor,
        target_type=target_type or record_type,
        target_id=row.id if target_id is None else target_id,
        logs=logs,
        details=_details(details, row.id, sealed),
    )
    return payload


def store_sealed(row: Any, sealed: Sealed, *, record_type: str) -> SealedPayload:
    """Add ``row`` and link it to an envelope sealed elsewhere (a package's item, bound
    to the sender hub's record); the caller audits the package as a whole."""
    db.session.add(row)
    db.session.flush()
    payload = payloads.store(sealed, record_type=record_type, record_id=row.id, imported=True)
    _link(row, payload.id)
    return payload


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


class Batch:
    """`add` for many rows of one table: sealed as they come, written a batch at a time.

    Rows and log entries are written separately: `write_rows` puts the queued rows
    in the database (one statement on PostgreSQL, three executemany INSERTs on
    SQLite) when the batch is full or a later row's checks must read one of them (a
    reply); `flush` also appends their audit entries, in row order. Nothing here
    commits: the caller's unit of work holds the whole run.
    """

    def __init__(self, table: Table, size: int | None = None) -> None:
        self.table = table
        self.size = size or BATCH
        self.row_ids = _Ids(table)
        self.payload_ids = _Ids(SealedPayload.__table__)
        self.keys = payloads.Keys()
        self.payload_rows: list[dict[str, Any]] = []
        self.wrap_rows: list[dict[str, Any]] = []
        self.rows: list[dict[str, Any]] = []
        self.unwritten: set[int] = set()
        #: (log name, entry) in row order, not yet appended.
        self.entries: list[tuple[str, log.Pending]] = []

    def add(
        self,
        actor: Actor,
        values: dict[str, Any],
        *,
        record_type: str,
        agreement: str | None,
        recipient: str | None,
        readers: list[str],
        content: bytes,
        action: str,
        logs: list[str],
        details: Details,
        target_type: str | None = None,
        target_id: int | None = None,
    ) -> int:
        """Queue the row of ``values`` as `add` would write it; returns its id."""
        row_id, payload_id = self.row_ids.take(), self.payload_ids.take()
        sealed = payloads.envelope(
            record_type=record_type,
            record_id=row_id,
            agreement=agreement,
            sender=actor.organisation_code,
            recipient=recipient,
            readers=readers,
            content=content,
            keys=self.keys,
        )
        payload = payloads.payload_row(
            sealed, record_type=record_type, record_id=row_id, created_at=utcnow()
        )
        self.payload_rows.append({"id": payload_id, **payload})
        self.wrap_rows += payloads.wrap_rows(sealed, payload_id)
        self.rows.append({**values, "id": row_id, "payload_id": payload_id})
        self.unwritten.add(row_id)
        entry = audit.pending(
            actor,
            action,
            target_type=target_type or record_type,
            target_id=row_id if target_id is None else target_id,
            details=_details(details, row_id, sealed),
        )
        self.entries += [(name, entry) for name in logs]
        return row_id

    @contextmanager
    def following(self) -> Iterator[None]:
        """Entries `audit.record` writes inside the block are queued after those
        queued (a response's answer follows the response's own entry)."""
        with log.collecting(db.session()) as collected:
            yield
        self.entries += collected

    def row_done(self) -> None:
        """Write what is queued when the batch is full."""
        if len(self.rows) >= self.size:
            self.flush()

    def write_rows(self) -> None:
        """Put the queued rows (and their payloads) in the database."""
        if not self.rows:
            return
        tables = (
            (SealedPayload.__table__, self.payload_rows),
            (PayloadWrap.__table__, self.wrap_rows),
            (self.table, self.rows),
        )
        connection = db.session.connection()
        if connection.dialect.name == "postgresql":
            _insert_postgres(connection, tables)
        else:
            for table, rows in tables:
                connection.execute(table.insert(), rows)
        self.payload_rows, self.wrap_rows, self.rows = [], [], []
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
            log.append_many(db.session(), name, by_log[name])


def following(batch: Batch | None) -> AbstractContextManager[None]:
    """`Batch.following` when writing in a batch; otherwise entries go in at once."""
    return batch.following() if batch is not None else nullcontext()


def _insert_postgres(
    connection: Connection, tables: tuple[tuple[Table, list[dict[str, Any]]], ...]
) -> None:
    """All three tables in one statement, one round trip (the early writes for a
    reply's checks are frequent): each column travels as one array, spread by
    ``unnest``; the INSERTs of the WITH clause and the last one run as one
    statement, whose foreign keys are checked at its end, when all rows are in."""
    dialect = connection.dialect
    parts, params = [], []
    for table, rows in tables:
        names, arrays = [], []
        for column in table.columns:
            # A ColumnDefault (a value or a callable): the only kind these tables use.
            default = column.default.arg if column.default is not None else None  # type: ignore[attr-defined]
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
