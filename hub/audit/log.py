"""Appending entries to the logs, inside the caller's transaction.

Serialisation: an append reads the log's size and compact range, then writes
the entry at that index. Two writers doing this at once would fork the log, so
the head row is locked first: ``SELECT ... FOR UPDATE`` on PostgreSQL; on
SQLite every transaction is begun IMMEDIATE (hub.database), which already
holds the single write lock. The lock is held until the caller commits or
rolls back, so the change and its entry are one unit: both or neither.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.audit import store
from hub.audit.entry import EntryError, encode_entry
from hub.audit.merkle import leaf_hash
from hub.extensions import db
from hub.models import Agreement
from hub.models.audit import HUB_LOG, organisation_of_log
from hub.models.base import utcnow

#: session.info key: ids of the logs appended to in the open transaction
#: (read after commit to sign checkpoints when due; see hub.operations.unit).
TOUCHED = "hub_audit_touched"
#: session.info key: while set (see `collecting`), `record` queues entries there.
COLLECT = "hub_audit_collect"


def lock_log(
    session: Session, name: str, writer: store.Writer | None = None
) -> tuple[int, int, bytes | None]:
    """Lock the head of log ``name`` (creating it if missing); return ``(id, size, root)``.

    Creating is race-safe: INSERT ... ON CONFLICT DO NOTHING (PostgreSQL and
    SQLite alike); the insert of a concurrent creator waits on the unique
    index, then does nothing, and the locking select finds the winner's row.
    """
    own = writer is None
    writer = writer or store.Writer(session)
    lock = "" if writer.sqlite else " FOR UPDATE"
    query = f"SELECT id, size, root FROM audit_logs WHERE name = %s{lock}"  # noqa: S608  # nosec B608
    try:
        rows = writer.execute(query, (name,))
        if not rows:
            agreement_id = None
            if name != HUB_LOG and organisation_of_log(name) is None:
                session.flush()  # an agreement created in this transaction
                agreement_id = session.scalar(select(Agreement.id).where(Agreement.code == name))
                if agreement_id is None:
                    raise EntryError(f"no agreement {name!r} to keep an audit log for")
            writer.execute(
                "INSERT INTO audit_logs (name, agreement_id, size, updated_at) "
                "VALUES (%s, %s, 0, %s) ON CONFLICT DO NOTHING",
                (name, agreement_id, writer.when(utcnow())),
            )
            rows = writer.execute(query, (name,))
    finally:
        if own:
            writer.close()
    log_id, size, root = rows[0]
    return log_id, int(size), bytes(root) if root is not None else None


def ensure_log(name: str) -> int:
    """Make sure the log exists (e.g. when an agreement is created); returns its id.

    Within the caller's transaction, like :func:`record`.
    """
    return lock_log(db.session(), name)[0]


def append(
    session: Session,
    name: str,
    *,
    actor: str,
    organisation: str,
    action: str,
    target_type: str,
    target_id: object,
    details: dict[str, Any] | None = None,
) -> int:
    """Append one entry to log ``name``; returns its index. Does not commit.

    ``actor`` is who did it (a username, or "system") and ``organisation`` their
    organisation's code, as plain strings: the log knows nothing of accounts."""
    writer = store.Writer(session)
    try:
        log_id, size, root = lock_log(session, name, writer)
        now = utcnow()  # taken under the lock, so times never go backwards in a log
        target = str(target_id)
        leaf_input = encode_entry(
            log=name,
            index=size,
            time=now,
            actor=actor,
            organisation=organisation,
            action=action,
            target_type=target_type,
            target_id=target,
            details=details,
        )
        columns = (
            log_id,
            size,
            writer.when(now),
            actor,
            organisation,
            action,
            target_type,
            target,
            leaf_input,
        )
        store.append_entry(session, writer, log_id, size, root, columns, leaf_hash(leaf_input), now)
    finally:
        writer.close()
    session.info.setdefault(TOUCHED, set()).add(log_id)
    return size


@dataclass(frozen=True)
class Pending:
    """One entry of a batch append (:func:`append_many`); fields as for :func:`append`."""

    actor: str
    organisation: str
    action: str
    target_type: str
    target_id: object
    details: dict[str, Any] | None = None
    #: None: the time of the append. Given only to rebuild a known sequence (tests);
    #: times must not go backwards in a log.
    time: datetime | None = None


def append_many(session: Session, name: str, entries: Sequence[Pending]) -> int:
    """Append ``entries``, in order, to log ``name`` in one go; returns the first index.

    The entries, leaves, subtree hashes and head are exactly those of appending
    them one by one with :func:`append` at the same times (the same encoding and
    tree push, computed in Python), written in a few multi-row statements with
    one head update instead of a lock, read and three writes per entry. For bulk
    runs (the importer). Does not commit; the head stays locked until the caller
    commits or rolls back.
    """
    writer = store.Writer(session)
    try:
        log_id, size, root = lock_log(session, name, writer)
        if not entries:
            return size
        now = utcnow()  # under the lock, as in append()
        rows, leaves = [], []
        for offset, item in enumerate(entries):
            moment = item.time or now
            target = str(item.target_id)
            leaf_input = encode_entry(
                log=name,
                index=size + offset,
                time=moment,
                actor=item.actor,
                organisation=item.organisation,
                action=item.action,
                target_type=item.target_type,
                target_id=target,
                details=item.details,
            )
            rows.append(
                (
                    log_id,
                    size + offset,
                    writer.when(moment),
                    item.actor,
                    item.organisation,
                    item.action,
                    item.target_type,
                    target,
                    leaf_input,
                )
            )
            leaves.append(leaf_hash(leaf_input))
        last = entries[-1].time or now
        store.append_entries(session, writer, log_id, size, root, rows, leaves, last)
    finally:
        writer.close()
    session.info.setdefault(TOUCHED, set()).add(log_id)
    return size


def record(
    action: str,
    *,
    actor: str,
    organisation: str,
    target_type: str,
    target_id: object,
    logs: Iterable[str] = (),
    details: dict[str, Any] | None = None,
) -> None:
    """Append one entry to each named log (agreement codes), or to the hub log when none.

    Call it inside the operation's transaction, before committing. Logs are
    locked in name order so two multi-log operations cannot deadlock each other.
    ``details`` hold identifiers, counts and digests, never plaintext content.
    """
    collected = db.session.info.get(COLLECT)
    for name in sorted(set(logs)) or [HUB_LOG]:
        if collected is not None:
            collected.append(
                (name, Pending(actor, organisation, action, target_type, target_id, details))
            )
            continue
        append(
            db.session(),
            name,
            actor=actor,
            organisation=organisation,
            action=action,
            target_type=target_type,
            target_id=target_id,
            details=details,
        )


@contextmanager
def collecting(session: Session) -> Iterator[list[tuple[str, Pending]]]:
    """Within the block, `record` does not append: it adds ``(log name, entry)``
    pairs, in order, to the list yielded, for the caller to append with
    :func:`append_many` in that order before committing (a bulk run that batches
    its appends, e.g. the importer). Entries handed over are the caller's to write."""
    if COLLECT in session.info:
        raise RuntimeError("audit entries are already being collected")
    collected: list[tuple[str, Pending]] = []
    session.info[COLLECT] = collected
    try:
        yield collected
    finally:
        session.info.pop(COLLECT, None)
