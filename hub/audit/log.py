"""Appending entries to the logs, inside the caller's transaction.

Serialisation: an append reads the log's size and compact range, then writes
the entry at that index. Two writers doing this at once would fork the log, so
the head row is locked first: ``SELECT ... FOR UPDATE`` on PostgreSQL; on
SQLite every transaction is begun IMMEDIATE (hub.database), which already
holds the single write lock. The lock is held until the caller commits or
rolls back, so the change and its entry are one unit: both or neither.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hub.audit import store
from hub.audit.entry import EntryError, encode_entry
from hub.audit.merkle import leaf_hash
from hub.extensions import db
from hub.models import Agreement, AuditEntry, AuditLog
from hub.models.audit import HUB_LOG
from hub.models.base import utcnow
from hub.operations.actor import Actor

#: session.info key: ids of the logs appended to in the open transaction
#: (read after commit to sign checkpoints when due; see hub.audit.checkpoints).
TOUCHED = "hub_audit_touched"

_logs = AuditLog.__table__


def _insert_ignoring_conflict(session: Session, values: dict) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: two writers creating the same log both succeed."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(_logs).values(**values).on_conflict_do_nothing())


def lock_log(session: Session, name: str) -> tuple[int, int]:
    """Lock the head of log ``name`` (creating it if missing) and return ``(id, size)``.

    Creating is race-safe: the insert of a concurrent creator waits on the
    unique index, then does nothing; the locking select then finds its row.
    """
    query = select(_logs.c.id, _logs.c.size).where(_logs.c.name == name).with_for_update()
    row = session.execute(query).first()
    if row is None:
        agreement_id = None
        if name != HUB_LOG:
            agreement_id = session.scalar(select(Agreement.id).where(Agreement.code == name))
            if agreement_id is None:
                raise EntryError(f"no agreement {name!r} to keep an audit log for")
        _insert_ignoring_conflict(
            session,
            {"name": name, "agreement_id": agreement_id, "size": 0, "updated_at": utcnow()},
        )
        row = session.execute(query).one()
    return row.id, int(row.size)


def ensure_log(name: str) -> int:
    """Make sure the log exists (e.g. when an agreement is created); returns its id.

    Within the caller's transaction, like :func:`record`.
    """
    return lock_log(db.session, name)[0]


def append(
    session: Session,
    name: str,
    *,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: object,
    details: dict[str, Any] | None = None,
) -> int:
    """Append one entry to log ``name``; returns its index. Does not commit."""
    log_id, size = lock_log(session, name)
    now = utcnow()  # taken under the lock, so times never go backwards in a log
    target = str(target_id)
    leaf_input = encode_entry(
        log=name,
        index=size,
        time=now,
        actor=actor.username,
        organisation=actor.organisation_code,
        action=action,
        target_type=target_type,
        target_id=target,
        details=details,
    )
    session.execute(
        AuditEntry.__table__.insert().values(
            log_id=log_id,
            index=size,
            created_at=now,
            actor=actor.username,
            organisation=actor.organisation_code,
            action=action,
            target_type=target_type,
            target_id=target,
            leaf_input=leaf_input,
        )
    )
    root = store.append_leaves(session, log_id, size, [leaf_hash(leaf_input)])
    store.set_head(session, log_id, size + 1, root, now)
    session.info.setdefault(TOUCHED, set()).add(log_id)
    return size


def record(
    action: str,
    *,
    actor: Actor,
    target_type: str,
    target_id: object,
    logs: Iterable[str] = (),
    details: dict | None = None,
) -> None:
    """Append one entry to each named log (agreement codes), or to the hub log when none.

    Call it inside the operation's transaction, before committing. Logs are
    locked in name order so two multi-log operations cannot deadlock each other.
    ``details`` hold identifiers, counts and digests, never plaintext content.
    """
    for name in sorted(set(logs)) or [HUB_LOG]:
        append(
            db.session,
            name,
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            details=details,
        )
