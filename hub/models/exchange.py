"""Exchanges: one piece of information passed between two parties under one agreement.

The metadata that compliance needs (who, to whom, when, kind, due, answered)
is plaintext and indexed; the body, structured fields and attachments are
sealed payloads.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.extensions import db
from hub.models.base import UTCDateTime, utcnow
from hub.models.organisation import Organisation

EXCHANGE_KINDS = (
    "request",
    "response",
    "alert",
    "case_referral",
    "joint_operation",
    "meeting",
    "periodic_report",
    "permission_request",
)
EXCHANGE_STATUSES = ("sent", "acknowledged", "answered", "closed")
CLASSIFICATIONS = ("restricted", "confidential", "secret", "top_secret")
HANDLING_CODES = ("H0", "H1", "H2", "H3")
RELIABILITY = ("A", "B", "C", "D", "E", "F")
CREDIBILITY = (1, 2, 3, 4, 5, 6)


class Exchange(db.Model):
    __tablename__ = "exchanges"
    __table_args__ = (
        Index("ix_exchanges_sender_sent", "sender_id", "sent_at", "id"),
        Index("ix_exchanges_recipient_sent", "recipient_id", "sent_at", "id"),
        Index("ix_exchanges_agreement_kind_sent", "agreement_id", "kind", "sent_at"),
        Index("ix_exchanges_open_due", "status", "due_at"),
        # Covers every column compliance evaluation reads, so its aggregates scan
        # this narrow index instead of the wide rows (hub/compliance, bench/).
        Index(
            "ix_exchanges_compliance",
            "agreement_id",
            "kind",
            "sent_at",
            "sender_id",
            "recipient_id",
            "status",
            "acknowledged_at",
            "answered_at",
            # SQLite carries the rowid in every index; PostgreSQL needs it named to
            # answer the evidence queries (which return ids) from the index alone.
            "id",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id"))
    sender_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(16), default="sent")
    classification: Mapped[str] = mapped_column(String(16))
    handling: Mapped[str] = mapped_column(String(2))
    handling_note: Mapped[str] = mapped_column(String(500), default="")
    reliability: Mapped[str] = mapped_column(String(1))
    credibility: Mapped[int] = mapped_column(Integer)
    # Short enough to be safe in plaintext; the body is sealed.
    subject: Mapped[str] = mapped_column(String(200))
    subject_key: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8), default="vi")
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    in_reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("exchanges.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    payload_id: Mapped[int | None] = mapped_column(ForeignKey("sealed_payloads.id"))
    # Permission recorded by the provider for onward sharing (H2) / court use (H1).
    onward_sharing_permitted: Mapped[bool] = mapped_column(Boolean, default=False)
    court_use_permitted: Mapped[bool] = mapped_column(Boolean, default=False)
    # For a permission_request's response: whether the provider granted it.
    permission_granted: Mapped[bool | None] = mapped_column(Boolean)
    # Marked by the recipient for use in judicial proceedings (blocked under H1 until permitted).
    court_use_marked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A copy passed on to a third organisation points at what it was forwarded from.
    forwarded_from_id: Mapped[int | None] = mapped_column(ForeignKey("exchanges.id"), index=True)

    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    receipt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    agreement = relationship("Agreement")
    sender: Mapped[Organisation] = relationship(foreign_keys=[sender_id])
    recipient: Mapped[Organisation] = relationship(foreign_keys=[recipient_id])
    case = relationship("Case", backref="exchanges")
    in_reply_to: Mapped[Exchange | None] = relationship(
        remote_side=[id], back_populates="replies", foreign_keys=[in_reply_to_id]
    )
    forwarded_from: Mapped[Exchange | None] = relationship(
        remote_side=[id], foreign_keys=[forwarded_from_id]
    )
    replies: Mapped[list[Exchange]] = relationship(
        back_populates="in_reply_to", foreign_keys=[in_reply_to_id], order_by="Exchange.sent_at"
    )
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="exchange", order_by="Attachment.id"
    )
    translations: Mapped[list[ExchangeTranslation]] = relationship(
        back_populates="exchange", order_by="ExchangeTranslation.id"
    )
    payload = relationship("SealedPayload", foreign_keys=[payload_id])

    def overdue(self, now: datetime | None = None) -> bool:
        now = now or utcnow()
        return (
            self.due_at is not None
            and self.answered_at is None
            and (self.status in ("sent", "acknowledged") and self.due_at < now)
        )


class Attachment(db.Model):
    """An attachment's bytes and file name are sealed; size and type stay plain for limits."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id"), index=True)
    payload_id: Mapped[int | None] = mapped_column(ForeignKey("sealed_payloads.id"))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    exchange: Mapped[Exchange] = relationship(back_populates="attachments")
    payload = relationship("SealedPayload")


class ExchangeTranslation(db.Model):
    """A translation of an exchange's body, beside the original (sealed like it)."""

    __tablename__ = "exchange_translations"

    id: Mapped[int] = mapped_column(primary_key=True)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id"), index=True)
    language: Mapped[str] = mapped_column(String(8))
    translator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    payload_id: Mapped[int | None] = mapped_column(ForeignKey("sealed_payloads.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    exchange: Mapped[Exchange] = relationship(back_populates="translations")
    translator = relationship("User")
    payload = relationship("SealedPayload")
