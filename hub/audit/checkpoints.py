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
``checkpoint_interval_minutes`` (the unit of work asks :func:`due` after its
commit and signs in a transaction of its own: hub.operations.unit), whenever a
checkpoint is asked for and the newest one does not cover the tree
(:func:`current`), and on ``hub audit checkpoint``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hub import app_keyring
from hub.audit import merkle, note
from hub.crypto.keyring import HUB, SIGN, KeyringError
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
# The key itself is hub.app_keyring's: ``hub_signing_key()`` unlocks the newest
# ``_hub/sign-v<N>`` with the configured passphrase (made on first use in
# development); ``hub_public_keys()`` reads every version's public half.


@dataclass
class _State:
    """Per-app: the newest checkpoint time per log, so the after-commit check
    rarely queries; and when the key last failed, so it is not retried per commit."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    newest: dict[int, datetime] = field(default_factory=dict)
    key_failed_at: datetime | None = None


_EXTENSION = "hub_audit"


def _state(app: Flask | None = None) -> _State:
    state: _State = (app or current_app).extensions.setdefault(_EXTENSION, _State())
    return state


def clear_state(app: Flask) -> None:
    """Forget ``app``'s newest-checkpoint times and key failure (hub.caches.reset_all)."""
    app.extensions.pop(_EXTENSION, None)


def signing_key() -> tuple[str, Ed25519PrivateKey]:
    """``(key name, private key)`` of the newest version of the hub's signing key."""
    try:
        version, private = app_keyring.hub_signing_key()
    except (app_keyring.KeysUnavailable, KeyringError) as exc:
        raise CheckpointKeyUnavailable(
            f"the hub's checkpoint key cannot be used ({exc}); run hub keys init"
        ) from exc
    return key_name(version), private


def have_key() -> bool:
    """Whether the hub's signing key exists (a folder listing: no unlock, no making)."""
    try:
        return bool(app_keyring.keyring().versions(HUB, SIGN))
    except (OSError, KeyringError):
        return False


def public_keys() -> dict[str, Ed25519PublicKey]:
    """Every version of the hub's checkpoint key, by key name (no passphrase needed)."""
    try:
        return {key_name(v): key for v, key in app_keyring.hub_public_keys().items()}
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
    for name in dict.fromkeys(ours):
        checked = note.verify_checkpoint(text, (name, keys[name]), origin=origin_for(log_name))
    return checked


# --- Signing ----------------------------------------------------------------


def _insert_ignoring_conflict(session: Session, values: dict[str, object]) -> None:
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
    existing: Checkpoint | None = session.scalar(
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
    # Ours or a concurrent signer's: the insert above leaves exactly one.
    row = session.scalars(
        select(Checkpoint).where(Checkpoint.log_id == log_id, Checkpoint.size == size)
    ).one()
    with _state().lock:
        _state().newest[log_id] = row.signed_at
    return row


def current(session: Session, log_id: int) -> Checkpoint:
    """The checkpoint to serve: the newest, or a fresh one if entries came after it
    (added to the caller's transaction: the operation's unit commits it)."""
    size = session.scalar(select(AuditLog.size).where(AuditLog.id == log_id))
    latest = newest(session, log_id)
    if latest is not None and latest.size == size:
        return latest
    return sign_head(session, log_id)


def due(log_ids: set[int], *, now: datetime | None = None) -> list[int]:
    """The logs among these whose newest checkpoint (as this process last saw it) is
    older than the interval; none while the key failed recently or does not exist.
    Reads no table: the unit of work asks after every commit that wrote a log."""
    state = _state()
    now = now or utcnow()
    if state.key_failed_at is not None and now - state.key_failed_at < RETRY_AFTER:
        return []
    if not have_key():  # keys are made by hub init / keys init, never behind a commit
        return []
    interval = _interval()
    with state.lock:
        return sorted(
            i for i in log_ids if i not in state.newest or now - state.newest[i] >= interval
        )


def key_failed(now: datetime | None = None) -> None:
    """The key could not be used: wait RETRY_AFTER before trying again."""
    _state().key_failed_at = now or utcnow()


def _interval() -> timedelta:
    return timedelta(minutes=current_app.config["HUB"].checkpoint_interval_minutes)


def sign_due(session: Session, log_ids: list[int], *, now: datetime | None = None) -> int:
    """Sign a checkpoint for each log whose newest one is older than the interval, in
    ``session`` (the caller commits); returns how many were signed. Raises
    :class:`CheckpointKeyUnavailable` when the key cannot be used."""
    state = _state()
    interval = _interval()
    now = now or utcnow()
    signed = 0
    for log_id in sorted(log_ids):
        latest = newest(session, log_id)
        size = session.scalar(select(AuditLog.size).where(AuditLog.id == log_id))
        if latest is not None and (latest.size == size or now - latest.signed_at < interval):
            with state.lock:
                state.newest[log_id] = latest.signed_at
            continue
        sign_head(session, log_id)
        signed += 1
    return signed


def sign_all(session: Session) -> list[Checkpoint]:
    """A checkpoint covering every log's current tree (``hub audit checkpoint --all``),
    in the caller's transaction."""
    return [sign_head(session, log_id) for log_id in session.scalars(select(AuditLog.id))]
