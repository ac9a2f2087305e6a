"""End-to-end API journeys: QB asks Khammouane, KM answers, Savannakhet sees nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from hub.extensions import db
from hub.models import AuditEntry, Exchange, SealedPayload

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def tokens(demo_users, api_token):
    return {name: api_token(name) for name in demo_users}


def request_body(**extra) -> dict:
    return {
        "agreement": "QB-KM-MOU",
        "recipient": "KM",
        "kind": "request",
        "subject": "Xe tải biển số 73C-123.45 qua cửa khẩu Cha Lo",
        "body": "Đề nghị xác minh chủ phương tiện và hành trình.",
        "classification": "confidential",
        "reliability": "B",
        "credibility": 2,
        "handling": "H0",
        **extra,
    }


def test_request_with_case_and_attachment_is_seen_acknowledged_and_answered(client, tokens):
    qb, km, sv = tokens["qb.officer"], tokens["km.officer"], tokens["sv.officer"]
    case = client.post(
        "/api/v1/cases",
        json={
            "title": "Vận chuyển ma túy tổng hợp qua Cha Lo",
            "agreements": ["QB-KM-MOU"],
            "organisations": ["KM"],
            "seizures": [{"drug_type": "crystal_meth", "quantity": "2.5", "unit": "kg"}],
            "suspects": [{"name": "Nguyễn Văn A", "identity_document": "044 099 001 234"}],
        },
        headers=qb,
    )
    assert case.status_code == 201, case.json
    case_id = case.json["id"]
    assert case.json["seizures"][0]["quantity"] == "2.500"
    assert case.json["suspects"][0]["name"] == "Nguyễn Văn A"

    sent = client.post("/api/v1/exchanges", json=request_body(case=case_id), headers=qb)
    assert sent.status_code == 201, sent.json
    request = sent.json
    assert request["sender"] == "QB"
    assert request["status"] == "sent"
    assert request["case"] == case_id
    sent_at = datetime.fromisoformat(request["sent_at"])
    assert datetime.fromisoformat(request["due_at"]) == sent_at + timedelta(days=7)
    assert request["overdue"] is False

    attached = client.post(
        f"/api/v1/exchanges/{request['id']}/attachments",
        data={"file": (__import__("io").BytesIO(PDF), "bien-ban.pdf")},
        headers=qb,
        content_type="multipart/form-data",
    )
    assert attached.status_code == 201, attached.json
    assert attached.json["media_type"] == "application/pdf"

    # The body is nowhere in plaintext.
    assert not db.session.scalar(
        select(func.count())
        .select_from(SealedPayload)
        .where(SealedPayload.ciphertext.contains("xác minh".encode()))
    )

    by_case = client.get(f"/api/v1/exchanges?case={case_id}", headers=qb)
    assert by_case.status_code == 200, by_case.json
    assert [e["id"] for e in by_case.json["items"]] == [request["id"]]

    listed = client.get("/api/v1/exchanges?direction=in", headers=km)
    assert listed.status_code == 200
    assert [e["id"] for e in listed.json["items"]] == [request["id"]]
    seen = client.get(f"/api/v1/exchanges/{request['id']}", headers=km)
    assert seen.status_code == 200
    assert seen.json["body"] == "Đề nghị xác minh chủ phương tiện và hành trình."
    assert seen.json["attachments"][0]["size"] == len(PDF)
    download = client.get(
        f"/api/v1/exchanges/{request['id']}/attachments/{attached.json['id']}", headers=km
    )
    assert download.status_code == 200
    assert download.data == PDF
    assert "bien-ban.pdf" in download.headers["Content-Disposition"]

    acked = client.post(f"/api/v1/exchanges/{request['id']}/acknowledge", headers=km)
    assert acked.status_code == 200
    assert acked.json["status"] == "acknowledged"
    assert acked.json["acknowledged_at"] is not None
    # One click: a second acknowledgement changes nothing.
    again = client.post(f"/api/v1/exchanges/{request['id']}/acknowledge", headers=km)
    assert again.json["acknowledged_at"] == acked.json["acknowledged_at"]

    answer = client.post(
        "/api/v1/exchanges",
        json=request_body(
            recipient="QB",
            kind="response",
            subject="Trả lời: chủ phương tiện",
            body="ເຈົ້າຂອງລົດແມ່ນ ...",
            in_reply_to=request["id"],
        ),
        headers=km,
    )
    assert answer.status_code == 201, answer.json
    answered = client.get(f"/api/v1/exchanges/{request['id']}", headers=qb).json
    assert answered["status"] == "answered"
    assert answered["answered_at"] == answer.json["sent_at"]
    assert answered["replies"] == [answer.json["id"]]

    # Savannakhet cannot tell that any of it exists.
    for path in (
        f"/api/v1/exchanges/{request['id']}",
        f"/api/v1/exchanges/{request['id']}/attachments/{attached.json['id']}",
        f"/api/v1/cases/{case_id}",
    ):
        assert client.get(path, headers=sv).status_code == 404
    assert (
        client.post(f"/api/v1/exchanges/{request['id']}/acknowledge", headers=sv).status_code == 404
    )
    assert client.get("/api/v1/exchanges", headers=sv).json["items"] == []
    assert client.get("/api/v1/cases", headers=sv).json["items"] == []

    # Every write left its entry in the agreement's log.
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {
        "exchange_sent",
        "attachment_added",
        "exchange_acknowledged",
        "request_answered",
    } <= actions


def test_overdue_requests_are_flagged_and_filtered(client, tokens):
    qb, km = tokens["qb.officer"], tokens["km.officer"]
    old = (datetime.now(UTC) - timedelta(days=10)).isoformat()
    late = client.post("/api/v1/exchanges", json=request_body(sent_at=old), headers=qb).json
    fresh = client.post("/api/v1/exchanges", json=request_body(), headers=qb).json
    assert late["overdue"] is True
    assert fresh["overdue"] is False
    for headers in (qb, km):
        overdue = client.get("/api/v1/exchanges?overdue=true", headers=headers).json["items"]
        assert [e["id"] for e in overdue] == [late["id"]]
    # Answering late ends the flag, and the request keeps when it was answered.
    client.post(
        "/api/v1/exchanges",
        json=request_body(recipient="QB", kind="response", in_reply_to=late["id"]),
        headers=km,
    )
    after = client.get(f"/api/v1/exchanges/{late['id']}", headers=qb).json
    assert after["overdue"] is False
    assert after["status"] == "answered"
    assert db.session.get(Exchange, late["id"]).due_at < datetime.now(UTC)


def test_api_list_queries_do_not_grow_with_the_page(client, tokens):
    from sqlalchemy import event

    qb = tokens["qb.officer"]
    for _ in range(6):
        client.post("/api/v1/exchanges", json=request_body(), headers=qb)
    for _ in range(6):
        client.post(
            "/api/v1/cases",
            json={
                "title": "Vụ",
                "province": "LA-KM",
                "seizures": [{"drug_type": "heroin", "quantity": "1", "unit": "kg"}],
            },
            headers=qb,
        )
    client.get("/api/v1/exchanges", headers=qb)  # the token's last use is noted once a minute
    counts = []
    for path, per_page in (("exchanges", 2), ("exchanges", 6), ("cases", 2), ("cases", 6)):
        statements = []

        def count(*args, statements=statements):
            statements.append(args[2])

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            response = client.get(f"/api/v1/{path}?per_page={per_page}", headers=qb)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        assert len(response.json["items"]) == per_page
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
    assert counts[2] == counts[3], counts
