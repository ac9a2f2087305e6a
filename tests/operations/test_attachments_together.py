"""An exchange and its files are stored together or not at all (one unit of work)."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from hub.errors import ValidationFailed
from hub.extensions import db
from hub.models import Attachment, AuditEntry, Exchange
from hub.operations import attachments
from hub.operations.unit import unit_of_work
from tests.conftest import make_exchange

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def exchange_form(browser, path: str = "/exchanges/new") -> dict:
    return {
        "csrf_token": browser.csrf(path),
        "agreement": "QB-KM-MOU",
        "recipient": "KM",
        "kind": "request",
        "subject": "Xác minh chủ xe 73C-123.45",
        "body": "Đề nghị xác minh chủ sở hữu xe tải biển số 73C-123.45.",
        "classification": "confidential",
        "reliability": "B",
        "credibility": "2",
        "handling": "H0",
        "handling_note": "",
        "sent_at": "",
        "case": "",
    }


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_refused_second_file_leaves_no_exchange_and_no_first_file(browser, demo_users):
    browser.login("qb.officer")
    before = count(AuditEntry)
    data = exchange_form(browser)
    data["attachments"] = [
        (io.BytesIO(PDF), "bien-ban.pdf"),
        (io.BytesIO(b"MZ\x90\x00binary"), "tool.exe"),
    ]
    response = browser.client.post("/exchanges/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 422
    assert count(Exchange) == 0
    assert count(Attachment) == 0
    assert count(AuditEntry) == before


def test_adds_joined_to_the_callers_unit_are_undone_with_it(app, demo_users):
    from hub.models import User
    from hub.operations.actor import Actor

    qb = Actor.for_user(db.session.scalar(select(User).where(User.username == "qb.officer")))
    exchange = make_exchange(
        qb, kind="alert", subject="Alert", body="Body", reliability="A", credibility=1
    )

    def both_in_one_unit() -> None:
        with unit_of_work():  # the caller's operation: the adds join it
            attachments.add(qb, exchange.id, filename="a.pdf", data=PDF)
            attachments.add(qb, exchange.id, filename="b.exe", data=b"MZ\x90\x00")

    with pytest.raises(ValidationFailed):
        both_in_one_unit()
    assert count(Attachment) == 0
    attachments.add(qb, exchange.id, filename="a.pdf", data=PDF)  # on its own: commits
    assert count(Attachment) == 1
