"""Peers: the partner hubs this hub talks to online, what it queued for them, and the
nonces of the signed requests it accepted (replay refusal).

A peer is another BLO Hub (e.g. Khammouane's) where some organisations live. It is
trusted by the signing key fingerprints an administrator confirmed out of band when
registering it; the keys themselves are the ones `hub keys import-public` stored in
the keyring. Removing a peer keeps its row (its queue and history stay readable) and
stops every delivery to and from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.extensions import db
from hub.models.base import UTCDateTime, utcnow

if TYPE_CHECKING:
    from hub.models.exchange import Exchange

#: Outbox states: waiting (first try or a retry after a failure), accepted by the peer, or
#: refused by it (it read the package and said no: not retried until an administrator
#: sends it again; its answer is kept in last_error).
QUEUED = "queued"
DELIVERED = "delivered"
REFUSED = "refused"
OUTBOX_STATUSES = (QUEUED, DELIVERED, REFUSED)


class Peer(db.Model):
    __tablename__ = "peers"

    id: Mapped[int] = mapped_column(primary_key=True)
    # A short name the administrators of both offices agree on, e.g. "km-hub".
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # Where its inbox is: <base_url>/peer/v1/inbox.
    base_url: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last time a signed exchange with it succeeded, either way.
    last_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last failure of a delivery to it (cleared by the next success).
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organisations: Mapped[list[PeerOrganisation]] = relationship(
        back_populates="peer", cascade="all, delete-orphan", order_by="PeerOrganisation.org_code"
    )
    keys: Mapped[list[PeerKey]] = relationship(
        back_populates="peer", cascade="all, delete-orphan", order_by="PeerKey.id"
    )

    @property
    def active(self) -> bool:
        return self.removed_at is None

    @property
    def org_codes(self) -> list[str]:
        return [o.org_code for o in self.organisations]


class PeerOrganisation(db.Model):
    """An organisation that lives on the peer: what is addressed to it goes there."""

    __tablename__ = "peer_organisations"

    peer_id: Mapped[int] = mapped_column(ForeignKey("peers.id"), primary_key=True)
    org_code: Mapped[str] = mapped_column(String(16), primary_key=True, index=True)

    peer: Mapped[Peer] = relationship(back_populates="organisations")


class PeerKey(db.Model):
    """A signing key fingerprint confirmed for the peer (by telephone or in person).

    ``purpose`` "sign" is an organisation's signing key (it signs the peer's requests
    and packages); other purposes (e.g. the peer hub's checkpoint key, for
    witnessing) may be added beside it.
    """

    __tablename__ = "peer_keys"
    __table_args__ = (UniqueConstraint("peer_id", "fingerprint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    peer_id: Mapped[int] = mapped_column(ForeignKey("peers.id"))
    purpose: Mapped[str] = mapped_column(String(16), default="sign")
    org_code: Mapped[str] = mapped_column(String(16))
    key_version: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    peer: Mapped[Peer] = relationship(back_populates="keys")


class OutboxItem(db.Model):
    """One sealed package queued for a peer, written in the same transaction as the change
    it carries; the delivery worker POSTs it until the peer answers with a receipt."""

    __tablename__ = "peer_outbox"
    __table_args__ = (Index("ix_peer_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    peer_id: Mapped[int] = mapped_column(ForeignKey("peers.id"), index=True)
    # The exchange the package concerns (a new one, or the one acknowledged, answered...).
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id"), index=True)
    # exchange, acknowledgement, translation, attachment, closure
    kind: Mapped[str] = mapped_column(String(24))
    # The package manifest's SHA-256: what the peer's receipt names (exported_packages too).
    package_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    package_json: Mapped[str] = mapped_column(Text)
    exporter_org: Mapped[str] = mapped_column(String(16))
    recipient_org: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    peer: Mapped[Peer] = relationship()
    exchange: Mapped[Exchange] = relationship()


class PeerNonce(db.Model):
    """The nonce of every signed request accepted within the clock-skew window: a request
    seen twice is refused. Rows older than the window are purged (their date alone
    refuses them)."""

    __tablename__ = "peer_nonces"
    __table_args__ = (UniqueConstraint("fingerprint", "nonce"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
