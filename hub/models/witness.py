"""Witnessing between hubs (C2SP tlog-witness): the checkpoint keys confirmed for a peer,
what this hub cosigned of a peer's logs, the cosignatures peers gave this hub's logs,
and every refusal either way.

A peer's checkpoint key is its hub key (``_hub/sign-v<N>``, the one that signs its
checkpoints); it verifies the peer's checkpoints when this hub witnesses them, and
the peer's cosignatures (the same key under the cosigner name
``blo-hub-witness-v<N>``) when the peer witnesses ours. It is pinned when an
administrator confirms its fingerprint (`hub peer checkpoint-key`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.extensions import db
from hub.models.base import UTCDateTime, utcnow
from hub.models.peer import Peer

#: witness_refusals.role: we refused the peer's checkpoint, or the peer refused ours.
REFUSED_BY_US = "witness"
REFUSED_BY_PEER = "log"


class PeerCheckpointKey(db.Model):
    __tablename__ = "peer_checkpoint_keys"
    __table_args__ = (UniqueConstraint("peer_id", "fingerprint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    peer_id: Mapped[int] = mapped_column(ForeignKey("peers.id"), index=True)
    # The signed-note key name of its checkpoints, e.g. "blo-hub-audit-v1".
    key_name: Mapped[str] = mapped_column(String(64))
    # C2SP vkey: <name>+<hex key id>+<base64(0x01 || public key)>
    vkey: Mapped[str] = mapped_column(String(200))
    # SHA-256 of the raw public key, hex: what the administrators read out.
    fingerprint: Mapped[str] = mapped_column(String(64))
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    peer: Mapped[Peer] = relationship()


class WitnessedCheckpoint(db.Model):
    """The newest checkpoint of a peer's log this hub cosigned (one row per peer and origin:
    both hubs keep a log of the same agreement under the same origin)."""

    __tablename__ = "witnessed_checkpoints"
    __table_args__ = (UniqueConstraint("peer_id", "origin"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    peer_id: Mapped[int] = mapped_column(ForeignKey("peers.id"))
    origin: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[bytes] = mapped_column(LargeBinary)
    note: Mapped[str] = mapped_column(Text)
    cosigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    peer: Mapped[Peer] = relationship()


class Cosignature(db.Model):
    """A peer's cosignature of one of this hub's checkpoints, as it answered."""

    __tablename__ = "cosignatures"
    __table_args__ = (UniqueConstraint("checkpoint_id", "peer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    log_id: Mapped[int] = mapped_column(ForeignKey("audit_logs.id"), index=True)
    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("audit_checkpoints.id"))
    peer_id: Mapped[int] = mapped_column(ForeignKey("peers.id"), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[bytes] = mapped_column(LargeBinary)
    # The cosigner name and its time (the cosignature's own timestamp).
    key_name: Mapped[str] = mapped_column(String(64))
    cosigned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The signature line as received (— <name> <base64>\n).
    line: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    peer: Mapped[Peer] = relationship()


class WitnessRefusal(db.Model):
    """A checkpoint refused: by us as the peer's witness, or by the peer as ours."""

    __tablename__ = "witness_refusals"
    __table_args__ = (Index("ix_witness_refusals_peer_at", "peer_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    peer_id: Mapped[int] = mapped_column(ForeignKey("peers.id"))
    role: Mapped[str] = mapped_column(String(16))
    origin: Mapped[str] = mapped_column(String(128))
    status: Mapped[int] = mapped_column(Integer)
    # conflict, inconsistent, unknown_log, unknown_key, malformed, ...
    code: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(500))
    old_size: Mapped[int | None] = mapped_column(BigInteger)
    size: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    peer: Mapped[Peer] = relationship()
