"""Organisations (parties) and places, whose names carry validity dates.

Names change: since 1 July 2025 Quảng Bình is part of Quảng Trị and Viet Nam has
no district level.  A record shows the names of its own time, so names live in
dated rows rather than on the organisation or place itself.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.extensions import db
from hub.models.base import UTCDateTime, utcnow

COUNTRIES = ("VN", "LA")
ORG_KINDS = ("blo", "police", "border_guard", "customs", "international")
PLACE_KINDS = ("province", "district", "commune", "village", "border_gate")


class Organisation(db.Model):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    country: Mapped[str] = mapped_column(String(2))
    kind: Mapped[str] = mapped_column(String(24))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    names: Mapped[list[OrganisationName]] = relationship(
        back_populates="organisation", order_by="OrganisationName.valid_from"
    )

    def name_on(self, day: date | None = None) -> OrganisationName | None:
        """The name in force on `day` (today when None); the latest when none covers it."""
        day = day or date.today()
        chosen = None
        for name in self.names:
            if name.valid_from <= day and (name.valid_to is None or day <= name.valid_to):
                return name
            chosen = name
        return chosen

    def __repr__(self) -> str:
        return f"<Organisation {self.code}>"


class OrganisationName(db.Model):
    __tablename__ = "organisation_names"
    __table_args__ = (UniqueConstraint("organisation_id", "valid_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    name_vi: Mapped[str] = mapped_column(String(255))
    name_lo: Mapped[str] = mapped_column(String(255))
    name_en: Mapped[str] = mapped_column(String(255))
    short_vi: Mapped[str] = mapped_column(String(64))
    short_lo: Mapped[str] = mapped_column(String(64))
    short_en: Mapped[str] = mapped_column(String(64))

    organisation: Mapped[Organisation] = relationship(back_populates="names")

    def name(self, lang: str) -> str:
        return getattr(self, f"name_{lang}", None) or self.name_en

    def short(self, lang: str) -> str:
        return getattr(self, f"short_{lang}", None) or self.short_en


class Place(db.Model):
    """A province, district, commune, village or border gate, valid for a period."""

    __tablename__ = "places"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    country: Mapped[str] = mapped_column(String(2))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("places.id"), index=True)
    successor_id: Mapped[int | None] = mapped_column(ForeignKey("places.id"))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    name_vi: Mapped[str] = mapped_column(String(255))
    name_lo: Mapped[str] = mapped_column(String(255))
    name_en: Mapped[str] = mapped_column(String(255))

    parent: Mapped[Place | None] = relationship(remote_side=[id], foreign_keys=[parent_id])
    successor: Mapped[Place | None] = relationship(remote_side=[id], foreign_keys=[successor_id])

    def name(self, lang: str) -> str:
        return getattr(self, f"name_{lang}", None) or self.name_en
