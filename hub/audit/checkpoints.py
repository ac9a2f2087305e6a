"""Signed checkpoints of the logs: C2SP tlog-checkpoint notes under the hub's key.

Text of a checkpoint (``schemas/audit-checkpoint.md``)::

    blo-hub/audit/QB-KM-MOU          origin: one per log
    42                               tree size
    <base64 root hash>
    time 2026-11-26T10:41:33Z        extension line: when it was signed (UTC)

    — blo-hub-audit-v1 <base64(key id || Ed25519 signature)>

One hub key signs every log, so a verifier must always check the origin too
(``verify_checkpoint(..., origin=)``). The key name carries the key's version
in the keyring (``_hub/sign-v<N>``), so old checkpoints stay verifiable after
a rotation.

When: after a write batch that touched a log, at most once per
``checkpoint_interval_minutes`` (the after-commit hook below), whenever a
checkpoint is asked for and the newest one does not cover the tree
(:func:`current`), and on ``hub audit checkpoint``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import Flask, current_app, has_app_context
from sqlalchemy import event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hub.audit import merkle, note
from hub.audit.log import TOUCHED
from hub.crypto import service
from hub.crypto.keyring import HUB, SIGN, KeyringError
from hub.extensions import db
from hub.models import AuditLog, Checkpoint
from hub.models.base import utcnow

log = logging.getLogger(__name__)

ORIGIN_PREFIX = "blo-hub/audit/"
KEY_NAME_PREFIX = "blo-hub-audit-v"
TIME_EXTENSION = "time "
#: After a failure to load the key (missing, wrong passphrase), wait this long
#: before trying again: a wrong passphrase costs a deliberate Argon2 run.
RETRY_AFTER = timedelta(minutes=1)


class CheckpointKeyUnavailable(RuntimeError):
    """The hub's checkpoint key cannot be used (not created, or no passphrase)."""


def origin_for(log_name: str) -> str:
    return ORIGIN_PREFIX + log_name


def log_name_of(origin: str) -> str | None:
    return origin[len(ORIGIN_PREFIX) :] if origin.startswith(ORIGIN_PREFIX) else None


def key_name(version: int) -> str:
    return f"{KEY_NAME_PREFIX}{version}"


def signed_time(checkpoint: note.Checkpoint) -> str | None:
    for line in checkpoint.extensions:
        if line.startswith(TIME_EXTENSION):
            return line[len(TIME_EXTENSION) :]
    return None


# --- The hub's key ----------------------------------------------------------
# The key itself is hub.crypto.service's: ``hub_signing_key()`` unlocks the newest
# ``_hub/sign-v<N>`` with the configured passphrase (made on first use in
# development); ``hub_public_keys()`` reads every version's public half.


@dataclass
class _State:
    """Per-app: the newest checkpoint time per log, so the after-commit check
    rarely queries; and when the key last failed, so it is not retried per commit."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    newest: dict[int, datetime] = field(default_factory=dict)
    key_failed_at: datetime | None = None


def _state(app: Flask | None = None) -> _State:
    app = app or current_app._get_current_object()
    return app.extensions.setdefault("hub_audit", _State())


def signing_key() -> tuple[str, Ed25519PrivateKey]:
    """``(key name, private key)`` of the newest version of the hub's signing key."""
    try:
        version, private = service.hub_signing_key()
    except (service.KeysUnavailable, KeyringError) as exc:
        raise CheckpointKeyUnavailable(
            f"the hub's checkpoint key cannot be used ({exc}); run hub keys init"
        ) from exc
    return key_name(version), private


def have_key() -> bool:
    """Whether the hub's signing key exists (a folder listing: no unlock, no making)."""
    try:
        return bool(service.keyring().versions(HUB, SIGN))
    except (OSError, KeyringError):
        return False


def public_keys() -> dict[str, Ed25519PublicKey]:
    """Every version of the hub's checkpoint key, by key name (no passphrase needed)."""
    try:
        return {key_name(v): key for v, key in service.hub_public_keys().items()}
    except (OSError, KeyringError) as exc:
        log.warning("cannot read the hub's checkpoint public keys: %s", exc)
        return {}


def vkeys() -> list[str]:
    """The verifier keys (C2SP vkey format), oldest first."""
    return [note.format_vkey(name, key) for name, key in public_keys().items()]


def verify_note(
    text: str | bytes, log_name: str, keys: dict[str, Ed25519PublicKey] | None = None
) -> note.Checkpoint:
    """Check a checkpoint's signature by one of the hub's keys and its origin.

    Raises :class:`note.NoteError` (bad signature, unknown key, other log).
    """
    keys = public_keys() if keys is None else keys
    parsed = note.parse_checkpoint(text)
    ours = [s.name for s in parsed.signatures if s.name in keys]
    if not ours:
        raise note.UnknownKeyError("not signed by any of the hub's checkpoint keys")
    checked = None
    for name in dict.fromkeys(ours):
        checked = note.verify_checkpoint(text, (name, keys[name]), origin=origin_for(log_name))
    return checked


# --- Signing ----------------------------------------------------------------


def _insert_ignoring_conflict(session: Session, values: dict) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(Checkpoint.__table__).values(**values).on_conflict_do_nothing())


def newest(session: Session, log_id: int) -> Checkpoint | None:
    return session.scalar(
        select(Checkpoint)
        .where(Checkpoint.log_id == log_id)
        .order_by(Checkpoint.size.desc(), Checkpoint.id.desc())
        .limit(1)
    )


def sign_head(session: Session, log_id: int) -> Checkpoint:
    """A checkpoint of the log's current tree, signing one if none covers it yet.

    Within the caller's transaction. Reads the head in one statement, so size
    and root are from the same committed append.
    """
    head = session.execute(
        select(AuditLog.name, AuditLog.size, AuditLog.root).where(AuditLog.id == log_id)
    ).one()
    size = int(head.size)
    existing = session.scalar(
        select(Checkpoint).where(Checkpoint.log_id == log_id, Checkpoint.size == size)
    )
    if existing is not None:
        return existing
    name, private = signing_key()
    now = utcnow()
    root = head.root or merkle.EMPTY_ROOT
    text = note.sign_checkpoint(
        origin_for(head.name),
        size,
        root,
        private,
        name,
        extensions=[TIME_EXTENSION + now.strftime("%Y-%m-%dT%H:%M:%SZ")],
    )
    _insert_ignoring_conflict(
        session, {"log_id": log_id, "size": size, "root": root, "signed_at": now, "note": text}
    )
    row = session.scalar(
        select(Checkpoint).where(Checkpoint.log_id == log_id, Checkpoint.size == size)
    )
    with _state().lock:
        _state().newest[log_id] = row.signed_at
    return row


def current(session: Session, log_id: int) -> Checkpoint:
    """The checkpoint to serve: the newest, or a fresh one if entries came after it.
    Commits when it signs."""
    size = session.scalar(select(AuditLog.size).where(AuditLog.id == log_id))
    latest = newest(session, log_id)
    if latest is not None and latest.size == size:
        return latest
    row = sign_head(session, log_id)
    session.commit()
    return row


def sign_due(log_ids: set[int], *, now: datetime | None = None) -> int:
    """Sign a checkpoint for each log whose newest one is older than the interval.

    Runs in its own transaction (it is called after the writer's commit).
    Failures are logged, never raised: a missing key must not undo or fail
    the change that was just committed. Returns how many were signed.
    """
    app = current_app._get_current_object()
    state = _state(app)
    interval = timedelta(minutes=app.config["HUB"].checkpoint_interval_minutes)
    now = now or utcnow()
    if state.key_failed_at is not None and now - state.key_failed_at < RETRY_AFTER:
        return 0
    if not have_key():  # keys are made by hub init / keys init, never behind a commit
        return 0
    with state.lock:
        due = [i for i in log_ids if i not in state.newest or now - state.newest[i] >= interval]
    if not due:
        return 0
    signed = 0
    session = Session(bind=db.engine)
    try:
        for log_id in sorted(due):
            latest = newest(session, log_id)
            size = session.scalar(select(AuditLog.size).where(AuditLog.id == log_id))
            if latest is not None and (latest.size == size or now - latest.signed_at < interval):
                with state.lock:
                    state.newest[log_id] = latest.signed_at
                continue
            sign_head(session, log_id)
            signed += 1
        session.commit()
    except CheckpointKeyUnavailable as exc:
        session.rollback()
        state.key_failed_at = now
        log.warning("audit checkpoints not signed: %s", exc)
    except Exception:  # the writer's change is committed; report, do not propagate
        session.rollback()
        log.exception("audit checkpoints not signed")
    finally:
        session.close()
    return signed


def sign_all(session: Session) -> list[Checkpoint]:
    """A checkpoint covering every log's current tree (``hub audit checkpoint --all``)."""
    rows = [sign_head(session, log_id) for log_id in session.scalars(select(AuditLog.id))]
    session.commit()
    return rows


_COMMITTED = "hub_audit_committed"


def _after_commit(session: Session) -> None:
    # Also fired when a savepoint is released, while the outer transaction still
    # holds the write lock: signing then, on another connection, would wait on
    # ourselves (30 s per imported row on SQLite). So only note it here...
    session.info[_COMMITTED] = True


def _after_transaction_end(session: Session, transaction) -> None:
    # ...and sign once the outermost transaction is over, if it committed.
    if transaction.nested or transaction.parent is not None:
        return
    committed = session.info.pop(_COMMITTED, False)
    touched = session.info.pop(TOUCHED, None)
    if committed and touched and has_app_context():
        sign_due(touched)


def _after_rollback(session: Session) -> None:
    session.info.pop(TOUCHED, None)
    session.info.pop(_COMMITTED, None)


# Every session of the process: the hook finds its app through the app context.
event.listen(Session, "after_commit", _after_commit)
event.listen(Session, "after_transaction_end", _after_transaction_end)
event.listen(Session, "after_rollback", _after_rollback)
