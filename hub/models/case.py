"""Cross-border drug cases, their seizures and suspects.

Suspects' personal data is sealed (see hub.crypto); what stays plaintext here
is what search and compliance need, and keyed blind indexes for exact lookups.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Column, Date, ForeignKey, Index, Numeric, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.extensions import db
from hub.models.base import UTCDateTime, utcnow
from hub.models.organisation import Organisation, Place

CASE_STATUSES = (
    "open",
    "investigating",
    "referred",
    "joint_operation",
    "prosecuted",
    "closed",
)
DRUG_TYPES = (
    "meth_tablets",
    "crystal_meth",
    "heroin",
    "cannabis",
    "ketamine",
    "opium",
    "precursors",
    "other",
)
UNITS = ("kg", "g", "tablets")

# The owner is always among a case's organisations (cases.create_case, update_case).
# (link, case_id) indexes: lists filtered by agreement or partner join them in case order.
case_organisations = Table(
    "case_organisations",
    db.metadata,
    Column("case_id", ForeignKey("cases.id"), primary_key=True),
    Column("organisation_id", ForeignKey("organisations.id"), primary_key=True),
    Index("ix_case_organisations_organisation_case", "organisation_id", "case_id"),
)

case_agreements = Table(
    "case_agreements",
    db.metadata,
    Column("case_id", ForeignKey("cases.id"), primary_key=True),
    Column("agreement_id", ForeignKey("agreements.id"), primary_key=True),
    Index("ix_case_agreements_agreement_case", "agreement_id", "case_id"),
)


class Case(db.Model):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_owner_opened", "owner_organisation_id", "opened_on"),
        # Lists walk cases newest first and stop at a page (visibility is an OR).
        Index("ix_cases_opened", "opened_on", "id"),
        # Each organisation numbers its own cases: one reference per owner, not per hub
        # (a hub-wide one told an organisation which references another had used).
        UniqueConstraint("owner_organisation_id", "reference", name="uq_cases_owner_reference"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(64))
    # Folded forms (accents, ຳ variants) for accent-insensitive search.
    reference_key: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(255))
    title_key: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(24), default="open", index=True)
    opened_on: Mapped[date] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    province_id: Mapped[int | None] = mapped_column(ForeignKey("places.id"))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("places.id"))
    locality_id: Mapped[int | None] = mapped_column(ForeignKey("places.id"))
    border_gate_id: Mapped[int | None] = mapped_column(ForeignKey("places.id"))
    place_note: Mapped[str] = mapped_column(String(255), default="")
    owner_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    owner: Mapped[Organisation] = relationship(foreign_keys=[owner_organisation_id])
    organisations: Mapped[list[Organisation]] = relationship(secondary=case_organisations)
    agreements = relationship("Agreement", secondary=case_agreements)
    province: Mapped[Place | None] = relationship(foreign_keys=[province_id])
    district: Mapped[Place | None] = relationship(foreign_keys=[district_id])
    locality: Mapped[Place | None] = relationship(foreign_keys=[locality_id])
    border_gate: Mapped[Place | None] = relationship(foreign_keys=[border_gate_id])
    seizures: Mapped[list[Seizure]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="Seizure.id"
    )
    suspects: Mapped[list[Suspect]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="Suspect.id"
    )


class Seizure(db.Model):
    __tablename__ = "seizures"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    drug_type: Mapped[str] = mapped_column(String(24))
    quantity: Mapped[Decimal] = mapped_column(Numeric(18, 3))
    unit: Mapped[str] = mapped_column(String(8))
    seized_on: Mapped[date | None] = mapped_column(Date)

    case: Mapped[Case] = relationship(back_populates="seizures")


class Suspect(db.Model):
    """Name, date of birth, nationality and identity document live only in the sealed payload."""

    __tablename__ = "suspects"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    payload_id: Mapped[int | None] = mapped_column(ForeignKey("sealed_payloads.id"))
    # Keyed blind indexes (HMAC of the normalised value): exact-match search only.
    name_index: Mapped[str | None] = mapped_column(String(64), index=True)
    document_index: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="suspects")
    payload = relationship("SealedPayload")
