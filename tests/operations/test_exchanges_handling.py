"""Conditions of use (H0-H3), permission requests, forwarding, translations, life cycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import func, select

from hub.errors import Conflict, Forbidden, NotFound, ValidationFailed
from hub.extensions import db
from hub.models import AuditEntry, Exchange, SealedPayload
from hub.operations import exchanges, handling
from hub.operations.actor import Actor
from tests.conftest import new_exchange


@pytest.fixture
def actors(app, demo_users):
    # Operations' messages are translated when raised: give them a request's locale.
    with app.test_request_context():
        yield {name: Actor.for_user(user) for name, user in demo_users.items()}


#: An alert from KM to QB (tests pass only what they are about).
new = partial(
    new_exchange,
    recipient="QB",
    kind="alert",
    subject="Cảnh báo",
    body="ນີ້ແມ່ນຂໍ້ມູນ",
    classification="secret",
    reliability="A",
    credibility=1,
)


def rows(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_h2_blocks_forwarding_until_the_provider_grants_permission(actors):
    km, qb = actors["km.officer"], actors["qb.officer"]
    alert = exchanges.send(km, new(handling="H2"))
    before = rows(Exchange)
    with pytest.raises(Forbidden):
        handling.forward(qb, alert.id, agreement="QB-SV-MOU", recipient="SV")
    assert rows(Exchange) == before

    ask = exchanges.send(
        qb,
        new(
            recipient="KM",
            kind="permission_request",
            subject="Xin phép chia sẻ cho Savannakhet",
            body="...",
            in_reply_to=alert.id,
            classification="restricted",
        ),
    )
    assert ask.due_at == ask.sent_at + timedelta(days=7)
    # A refusal keeps the block.
    exchanges.send(
        km,
        new(kind="response", in_reply_to=ask.id, permission_granted=False, body="ບໍ່"),
    )
    assert not db.session.get(Exchange, alert.id).onward_sharing_permitted
    with pytest.raises(Forbidden):
        handling.forward(qb, alert.id, agreement="QB-SV-MOU", recipient="SV")

    again = exchanges.send(
        qb, new(recipient="KM", kind="permission_request", in_reply_to=alert.id, body="...")
    )
    exchanges.send(km, new(kind="response", in_reply_to=again.id, permission_granted=True))
    assert db.session.get(Exchange, alert.id).onward_sharing_permitted
    copy = handling.forward(qb, alert.id, agreement="QB-SV-MOU", recipient="SV")
    assert (copy.sender.code, copy.recipient.code) == ("QB", "SV")
    assert (copy.handling, copy.classification) == ("H2", "secret")
    assert copy.forwarded_from_id == alert.id
    sv = actors["sv.officer"]
    assert exchanges.read(sv, copy).body == "ນີ້ແມ່ນຂໍ້ມູນ"
    # The original stays out of Savannakhet's sight.
    with pytest.raises(NotFound):
        exchanges.visible_exchange(sv, alert.id)


def test_h1_blocks_court_use_until_permitted(actors):
    km, qb = actors["km.officer"], actors["qb.officer"]
    alert = exchanges.send(km, new(handling="H1"))
    with pytest.raises(Forbidden):
        handling.mark_for_court(qb, alert.id)
    assert db.session.get(Exchange, alert.id).court_use_marked_at is None
    ask = exchanges.send(
        qb, new(recipient="KM", kind="permission_request", in_reply_to=alert.id, body="...")
    )
    exchanges.send(km, new(kind="response", in_reply_to=ask.id, permission_granted=True))
    marked = handling.mark_for_court(qb, alert.id)
    assert marked.court_use_marked_at is not None
    with pytest.raises(Conflict):
        handling.mark_for_court(qb, alert.id)
    # H1 does not restrict onward sharing.
    assert handling.may_forward(qb, alert)


def test_permission_request_rules(actors):
    km, qb = actors["km.officer"], actors["qb.officer"]
    free = exchanges.send(km, new(handling="H0"))
    with pytest.raises(ValidationFailed) as refused:
        exchanges.send(qb, new(recipient="KM", kind="permission_request", in_reply_to=free.id))
    assert "in_reply_to" in refused.value.errors
    h2 = exchanges.send(km, new(handling="H2"))
    with pytest.raises(ValidationFailed) as refused:
        # Asked of its own provider only: KM cannot ask QB about what KM sent.
        exchanges.send(km, new(kind="permission_request", in_reply_to=h2.id))
    assert "in_reply_to" in refused.value.errors
    ask = exchanges.send(qb, new(recipient="KM", kind="permission_request", in_reply_to=h2.id))
    with pytest.raises(ValidationFailed) as refused:
        exchanges.send(km, new(kind="response", in_reply_to=ask.id))
    assert "permission_granted" in refused.value.errors


def test_h3_needs_its_note_and_keeps_it(actors):
    km = actors["km.officer"]
    with pytest.raises(ValidationFailed) as refused:
        exchanges.send(km, new(handling="H3"))
    assert list(refused.value.errors) == ["handling_note"]
    row = exchanges.send(km, new(handling="H3", handling_note="Chỉ dùng nội bộ BLO"))
    assert row.handling_note == "Chỉ dùng nội bộ BLO"


def test_supervisors_and_admins_cannot_write(actors):
    for name in ("qb.supervisor", "km.supervisor", "admin"):
        before = (rows(Exchange), rows(SealedPayload), rows(AuditEntry))
        with pytest.raises(Forbidden):
            exchanges.send(actors[name], new(recipient="KM"))
        assert (rows(Exchange), rows(SealedPayload), rows(AuditEntry)) == before


def test_translation_beside_the_original_reader_language_first(actors):
    km, qb = actors["km.officer"], actors["qb.officer"]
    alert = exchanges.send(km, new(language="lo"))
    exchanges.add_translation(qb, alert.id, language="vi", body="Đây là thông tin")
    seen_by_qb = exchanges.read(qb, alert, language="vi")
    assert [(t.language, t.original) for t in seen_by_qb.texts] == [("vi", False), ("lo", True)]
    assert seen_by_qb.texts[0].translator == "qb.officer"
    assert seen_by_qb.texts[0].translated_at is not None
    seen_by_km = exchanges.read(km, alert, language="lo")
    assert [(t.language, t.original) for t in seen_by_km.texts] == [("lo", True), ("vi", False)]
    assert seen_by_km.body == "ນີ້ແມ່ນຂໍ້ມູນ"


def test_sent_at_in_the_past_allowed_within_skew_but_not_future(actors):
    qb = actors["qb.officer"]
    past = datetime.now(UTC) - timedelta(days=400)
    assert exchanges.send(qb, new(recipient="KM", sent_at=past)).sent_at == past
    skew = datetime.now(UTC) + timedelta(minutes=3)
    assert exchanges.send(qb, new(recipient="KM", sent_at=skew)).sent_at == skew
    with pytest.raises(ValidationFailed) as refused:
        exchanges.send(qb, new(recipient="KM", sent_at=datetime.now(UTC) + timedelta(minutes=6)))
    assert list(refused.value.errors) == ["sent_at"]


def test_response_before_its_request_is_refused(actors):
    qb, km = actors["qb.officer"], actors["km.officer"]
    asked = exchanges.send(qb, new(recipient="KM", kind="request"))
    with pytest.raises(ValidationFailed) as refused:
        exchanges.send(
            km,
            new(kind="response", in_reply_to=asked.id, sent_at=asked.sent_at - timedelta(hours=1)),
        )
    assert "sent_at" in refused.value.errors


def test_close_rules(actors):
    qb, km = actors["qb.officer"], actors["km.officer"]
    asked = exchanges.send(qb, new(recipient="KM", kind="request"))
    with pytest.raises(Forbidden):
        exchanges.close(km, asked.id)
    closed = exchanges.close(qb, asked.id)
    assert closed.status == "closed"
    assert not closed.overdue(datetime.now(UTC) + timedelta(days=30))
    with pytest.raises(Conflict):
        exchanges.close(qb, asked.id)
    with pytest.raises(ValidationFailed):
        exchanges.send(km, new(kind="response", in_reply_to=asked.id))
