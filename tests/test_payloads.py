"""Sealed payloads in the app: seal, open for entitled readers only, audit every reading."""

from __future__ import annotations

from sqlalchemy import select

from hub.crypto import payloads
from hub.extensions import db
from hub.models import AuditEntry, SealedPayload
from hub.operations.actor import Actor


def actor(org: str, username: str | None = None) -> Actor:
    return Actor(
        user_id=None,
        username=username or f"{org.lower()}.officer",
        organisation_id=None,
        organisation_code=org,
        role="officer",
    )


def seal_exchange(content: bytes = b"body", record_id: int = 1, **extra) -> SealedPayload:
    values = dict(
        record_type="exchange",
        record_id=record_id,
        agreement="QB-KM-MOU",
        sender="QB",
        recipient="KM",
        readers=["QB", "KM"],
        content=content,
    )
    values.update(extra)
    row = payloads.seal(**values)
    db.session.commit()
    return row


def actions(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_round_trip_for_sender_and_recipient(app):
    row = seal_exchange(b"the body \xe2\x80\x94 Qu\xe1\xba\xa3ng B\xc3\xacnh")
    assert {w.org_code for w in row.wraps} == {"QB", "KM"}
    for org in ("QB", "KM"):
        got = payloads.open_for(
            actor(org), row, record_type="exchange", record_id=1, logs=["QB-KM-MOU"]
        )
        assert got == "the body — Quảng Bình".encode()
    db.session.commit()
    assert len(actions("payload_opened")) == 2
