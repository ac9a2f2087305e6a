"""The per-agreement audit logs: entries, stored subtree hashes, signed checkpoints."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.extensions import db
from hub.models.base import UTCDateTime, utcnow

HUB_LOG = "hub"
#: An organisation's own log ("org:QB"): what concerns a case but no agreement all of
#: whose parties are involved in it. Only that organisation reads it.
ORGANISATION_LOG_PREFIX = "org:"


def organisation_log(code: str) -> str:
    return ORGANISATION_LOG_PREFIX + code


def organisation_of_log(name: str) -> str | None:
    """The organisation code of an organisation's log, else None."""
    if name.startswith(ORGANISATION_LOG_PREFIX):
        return name[len(ORGANISATION_LOG_PREFIX) :]
    return None


class AuditLog(db.Model):
    """The head of one log; its row is locked while appending, so appends serialise."""

    __tablename__ = "audit_logs"

    id: Mapped[int] = mapped_column(primary_key=True)
    # An agreement code, "hub" for what concerns no agreement, or "org:<code>".
    name: Mapped[str] = mapped_column(String(32), unique=True)
    agreement_id: Mapped[int | None] = mapped_column(ForeignKey("agreements.id"), unique=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    root: Mapped[bytes | None] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_verified_ok: Mapped[bool | None] = mapped_column()
    last_verified_message: Mapped[str | None] = mapped_column(String(500))


class AuditEntry(db.Model):
    __tablename__ = "audit_entries"
    __table_args__ = (UniqueConstraint("log_id", "index"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    log_id: Mapped[int] = mapped_column(ForeignKey("audit_logs.id"))
    index: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    organisation: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(48))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(64))
    # The canonical bytes that were hashed (schemas/audit-entry.md); fields above mirror them.
    leaf_input: Mapped[bytes] = mapped_column(LargeBinary)


class AuditNode(db.Model):
    """The hash of a complete subtree: level L, index i covers leaves [i*2^L, (i+1)*2^L)."""

    __tablename__ = "audit_nodes"

    log_id: Mapped[int] = mapped_column(ForeignKey("audit_logs.id"), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class Checkpoint(db.Model):
    __tablename__ = "audit_checkpoints"
    __table_args__ = (UniqueConstraint("log_id", "size"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    log_id: Mapped[int] = mapped_column(ForeignKey("audit_logs.id"), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[bytes] = mapped_column(LargeBinary)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str] = mapped_column(Text)
