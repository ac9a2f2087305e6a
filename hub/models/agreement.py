"""Agreements between parties, and the machine-checkable obligations they carry."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Column, Date, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.extensions import db
from hub.models.base import UTCDateTime, utcnow
from hub.models.organisation import Organisation

AGREEMENT_KINDS = ("convention", "bilateral", "memorandum", "plan")
OBLIGATION_KINDS = ("response_time", "acknowledge_time", "meeting_interval", "periodic_report")

agreement_parties = Table(
    "agreement_parties",
    db.metadata,
    Column("agreement_id", ForeignKey("agreements.id"), primary_key=True),
    Column("organisation_id", ForeignKey("organisations.id"), primary_key=True, index=True),
)


class Agreement(db.Model):
    __tablename__ = "agreements"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    title_vi: Mapped[str] = mapped_column(String(255))
    title_lo: Mapped[str] = mapped_column(String(255))
    title_en: Mapped[str] = mapped_column(String(255))
    signed_on: Mapped[date | None] = mapped_column(Date)
    effective_from: Mapped[date | None] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    # Sample data loaded by `hub init`, for an administrator to edit or replace.
    is_sample: Mapped[bool] = mapped_column(Boolean, default=False)
    # Classification levels the parties share under this agreement; None means all.
    classifications: Mapped[list[str] | None] = mapped_column(JSON)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    parties: Mapped[list[Organisation]] = relationship(
        secondary=agreement_parties, order_by="Organisation.code"
    )
    obligations: Mapped[list[Obligation]] = relationship(
        back_populates="agreement", order_by="Obligation.id", cascade="all, delete-orphan"
    )

    def title(self, lang: str) -> str:
        return getattr(self, f"title_{lang}", None) or self.title_en

    def obligation(self, kind: str) -> Obligation | None:
        return next((o for o in self.obligations if o.kind == kind and o.active), None)

    def __repr__(self) -> str:
        return f"<Agreement {self.code}>"


class Obligation(db.Model):
    """One rule, e.g. kind=response_time with params {"days": 7, "warning_days": 2}."""

    __tablename__ = "obligations"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    agreement: Mapped[Agreement] = relationship(back_populates="obligations")
