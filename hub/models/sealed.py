"""Sealed payloads as stored: ciphertext once, the data key wrapped per reader."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.extensions import db
from hub.models.base import UTCDateTime, utcnow


class SealedPayload(db.Model):
    __tablename__ = "sealed_payloads"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The row this payload belongs to (local id). The authenticated binding in
    # binding_json names it globally ("<hub id>/<id>"), with agreement, sender and
    # recipient; see hub.operations.payloads.
    record_type: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[str] = mapped_column(String(64))
    binding_json: Mapped[str] = mapped_column(String(1024))
    # Envelope format version and payload cipher (hub.crypto.sealing), so suites can coexist.
    envelope_version: Mapped[int] = mapped_column(Integer, default=1)
    suite: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    # HMAC of the data key, signed: pins the one data key every wrap must hold.
    key_commitment: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext_sha256: Mapped[str] = mapped_column(String(64))
    signer_org: Mapped[str] = mapped_column(String(16))
    signer_key_version: Mapped[int] = mapped_column(Integer)
    signer_fingerprint: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    # Arrived in a sealed package: bound to the sender hub's record, not to one of ours.
    imported: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    wraps: Mapped[list[PayloadWrap]] = relationship(
        back_populates="payload", cascade="all, delete-orphan"
    )


class PayloadWrap(db.Model):
    """The payload's data key, HPKE-wrapped to one organisation's key version."""

    __tablename__ = "payload_wraps"

    payload_id: Mapped[int] = mapped_column(ForeignKey("sealed_payloads.id"), primary_key=True)
    org_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    key_version: Mapped[int] = mapped_column(Integer)
    # The HPKE suite name and the fingerprint of the reader's public key it was wrapped to.
    kem: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64))
    enc: Mapped[bytes] = mapped_column(LargeBinary)

    payload: Mapped[SealedPayload] = relationship(back_populates="wraps")


class PackageReceipt(db.Model):
    """A signed receipt a partner's hub returned for a sealed package we exported."""

    __tablename__ = "package_receipts"

    id: Mapped[int] = mapped_column(primary_key=True)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id"), index=True)
    package_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    recipient_org: Mapped[str] = mapped_column(String(16))
    receipt_json: Mapped[str] = mapped_column(String(4096))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ImportedPackage(db.Model):
    """Packages already imported, by digest, so a replay is refused."""

    __tablename__ = "imported_packages"

    id: Mapped[int] = mapped_column(primary_key=True)
    package_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    exchange_id: Mapped[int | None] = mapped_column(ForeignKey("exchanges.id"))
    # The signed receipt this hub issued, kept so it can be handed over again unchanged.
    receipt_json: Mapped[str | None] = mapped_column(String(4096))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExportedPackage(db.Model):
    """A sealed package this hub exported, so the partner's receipt can be matched to it."""

    __tablename__ = "exported_packages"

    id: Mapped[int] = mapped_column(primary_key=True)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id"), index=True)
    # SHA-256 of the package manifest: what the partner's receipt names.
    package_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    exporter_org: Mapped[str] = mapped_column(String(16))
    recipient_org: Mapped[str] = mapped_column(String(16))
    items: Mapped[int] = mapped_column(Integer)
    exported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    exported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
