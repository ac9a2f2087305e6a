"""Exchange pages: QB records a request to KM with an attachment and a linked case;
KM acknowledges and answers it; SV cannot see that it exists.  Through the real forms."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from hub.extensions import db
from hub.models import Attachment, Exchange, ExchangeTranslation

PAGE_LIMIT = 100_000
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


def logout(browser) -> None:
    browser.client.post("/logout", data={"csrf_token": browser.csrf("/")})


def as_user(browser, username: str):
    logout(browser)
    browser.login(username)
    return browser


def exchange_form(browser, path="/exchanges/new", **fields) -> dict:
    data = {
        "csrf_token": browser.csrf(path),
        "agreement": "QB-KM-MOU",
        "recipient": "KM",
        "kind": "request",
        "subject": "Xác minh chủ xe 73C-123.45",
        "body": "Đề nghị xác minh chủ sở hữu xe tải biển số 73C-123.45.",
        "classification": "confidential",
        "reliability": "B",
        "credibility": "2",
        "handling": "H2",
        "handling_note": "",
        "sent_at": "",
        "case": "",
    }
    data.update(fields)
    return data


@pytest.fixture
def qb(browser, demo_users):
    browser.login("qb.officer")
    return browser


def _case(qb) -> int:
    path = "/cases/new"
    data = {
        "csrf_token": qb.csrf(path),
        "title": "Vụ Cha Lo",
        "opened_on": "2024-03-07",
        "province": "VN-QB",
        "organisations": ["KM"],
    }
    response = qb.client.post(path, data=data)
    assert response.status_code == 303
    return int(response.headers["Location"].split("/")[-1])


def _send(qb, **fields) -> int:
    data = exchange_form(qb, **fields)
    response = qb.client.post("/exchanges/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 303, response.get_data(as_text=True)
    return int(response.headers["Location"].split("/")[-1])


def test_request_with_attachment_and_case_acknowledged_and_answered(qb, browser):
    case_id = _case(qb)
    form_page = qb.client.get(f"/exchanges/new?case={case_id}")
    assert form_page.status_code == 200
    assert len(form_page.data) < PAGE_LIMIT
    data = exchange_form(qb, case=str(case_id))
    data["attachments"] = [(io.BytesIO(PDF), "bien-ban.pdf")]
    response = qb.client.post("/exchanges/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 303, response.get_data(as_text=True)
    exchange_id = int(response.headers["Location"].split("/")[-1])
    request = db.session.get(Exchange, exchange_id)
    assert request.case_id == case_id
    assert request.due_at is not None
    assert count(Attachment) == 1

    page = qb.client.get(f"/exchanges/{exchange_id}").get_data(as_text=True)
    assert "H2" in page  # conditions of use, prominently
    assert "73C-123.45" in page
    assert "/acknowledge" not in page  # the sender does not acknowledge

    km = as_user(browser, "km.officer")
    listing = km.client.get("/exchanges/").get_data(as_text=True)
    assert "Xác minh chủ xe 73C-123.45" in listing
    view = km.client.get(f"/exchanges/{exchange_id}")
    assert view.status_code == 200
    assert len(view.data) < PAGE_LIMIT
    body = view.get_data(as_text=True)
    assert "Đề nghị xác minh chủ sở hữu" in body
    link = re.search(rf"/exchanges/{exchange_id}/attachments/(\d+)", body)
    download = km.client.get(link.group(0))
    assert download.status_code == 200
    assert download.data == PDF
    assert "bien-ban.pdf" in download.headers["Content-Disposition"]

    path = f"/exchanges/{exchange_id}"
    assert f"{path}/acknowledge" in body  # one click for the recipient
    ack = km.client.post(f"{path}/acknowledge", data={"csrf_token": km.csrf(path)})
    assert ack.status_code == 303
    db.session.rollback()
    assert db.session.get(Exchange, exchange_id).status == "acknowledged"

    respond = km.client.get(f"{path}/respond")
    assert respond.status_code == 302
    new_path = respond.headers["Location"]
    form = km.client.get(new_path).get_data(as_text=True)
    assert 'value="response" selected' in form or 'selected value="response"' in form
    answer = km.client.post(
        new_path,
        data=exchange_form(
            km,
            path=new_path,
            recipient="QB",
            kind="response",
            subject="Re: chủ xe",
            body="ເຈົ້າຂອງລົດແມ່ນ ...",
            in_reply_to=str(exchange_id),
        ),
        content_type="multipart/form-data",
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)
    db.session.rollback()
    request = db.session.get(Exchange, exchange_id)
    assert request.status == "answered"
    assert request.answered_at is not None
    thread = km.client.get(path).get_data(as_text=True)
    assert "Re: chủ xe" in thread  # the reply is in the thread

    sv = as_user(browser, "sv.officer")
    assert sv.client.get(path).status_code == 404
    assert sv.client.get(f"{path}/attachments/1").status_code == 404
    assert sv.client.get(f"/exchanges/new?in_reply_to={exchange_id}").status_code == 404
    assert "73C-123.45" not in sv.client.get("/exchanges/").get_data(as_text=True)
    assert (
        sv.client.post(f"{path}/acknowledge", data={"csrf_token": sv.csrf("/")}).status_code == 404
    )


def test_bad_input_is_reshown_with_messages_and_nothing_stored(qb):
    future = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    data = exchange_form(qb, recipient="SV", subject="", handling="H3", sent_at=future)
    response = qb.client.post("/exchanges/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert page.count('class="field-error"') >= 4  # recipient, subject, handling note, sent_at
    assert count(Exchange) == 0

    bad_file = exchange_form(qb)
    bad_file["attachments"] = [(io.BytesIO(b"MZ\x90\x00binary"), "tool.exe")]
    response = qb.client.post("/exchanges/new", data=bad_file, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "field-error" in response.get_data(as_text=True)
    assert count(Exchange) == 0
    assert count(Attachment) == 0


def test_sent_at_is_typed_day_first_in_local_time_and_stored_in_utc(qb):
    page = qb.client.get("/exchanges/new").get_data(as_text=True)
    field = re.search(r'<input[^>]*name="sent_at"[^>]*>', page).group(0)
    assert 'type="text"' in field
    assert 'placeholder="nn/tt/nnnn gg:pp"' in field
    exchange_id = _send(qb, subject="Trao đổi qua điện thoại", sent_at="3/11/2025 08:15")
    sent_at = db.session.get(Exchange, exchange_id).sent_at
    assert sent_at.replace(tzinfo=None) == datetime(2025, 11, 3, 1, 15)  # UTC+7 typed

    response = qb.client.post(
        "/exchanges/new",
        data=exchange_form(qb, sent_at="3/11/2025 8h15"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "Ngày giờ không hợp lệ." in response.get_data(as_text=True)
    assert count(Exchange) == 1


def test_missing_csrf_is_refused(qb):
    data = exchange_form(qb)
    data.pop("csrf_token")
    response = qb.client.post("/exchanges/new", data=data, content_type="multipart/form-data")
    assert response.status_code in (400, 422)
    assert count(Exchange) == 0


def test_filters_overdue_and_past_sent_at(qb):
    old = (datetime.now(UTC) + timedelta(hours=7) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    late_id = _send(qb, subject="Yêu cầu cũ ở Quảng Bình", sent_at=old)
    _send(qb, subject="Cảnh báo mới", kind="alert")
    page = qb.client.get("/exchanges/?overdue=y").get_data(as_text=True)
    assert "Yêu cầu cũ ở Quảng Bình" in page
    assert "Cảnh báo mới" not in page
    assert "badge overdue" in page
    assert "Yêu cầu cũ" in qb.client.get("/exchanges/?q=quang+binh").get_data(as_text=True)
    only_alerts = qb.client.get("/exchanges/?kind=alert").get_data(as_text=True)
    assert "Cảnh báo mới" in only_alerts
    assert "Yêu cầu cũ" not in only_alerts
    assert qb.client.get("/exchanges/?page=5000").status_code == 422
    assert qb.client.get("/exchanges/?agreement=NOPE").status_code == 422
    view = qb.client.get(f"/exchanges/{late_id}").get_data(as_text=True)
    assert "badge overdue" in view


def test_translation_is_shown_beside_the_original_own_language_first(qb, browser):
    exchange_id = _send(qb)
    km = as_user(browser, "km.officer")
    path = f"/exchanges/{exchange_id}"
    response = km.client.post(
        f"{path}/translations",
        data={"csrf_token": km.csrf(path), "language": "lo", "body": "ຂໍໃຫ້ກວດສອບເຈົ້າຂອງລົດ"},
    )
    assert response.status_code == 303
    assert count(ExchangeTranslation) == 1
    page = km.client.get(path).get_data(as_text=True)
    assert page.index("ຂໍໃຫ້ກວດສອບເຈົ້າຂອງລົດ") < page.index("Đề nghị xác minh")
    empty = km.client.post(
        f"{path}/translations", data={"csrf_token": km.csrf(path), "language": "lo", "body": ""}
    )
    assert empty.status_code == 422
    assert count(ExchangeTranslation) == 1


def test_supervisor_reads_without_write_buttons(qb, browser):
    exchange_id = _send(qb)
    sup = as_user(browser, "km.supervisor")
    page = sup.client.get(f"/exchanges/{exchange_id}").get_data(as_text=True)
    assert "73C-123.45" in page
    assert "<button" not in page.split('<main id="main">', 1)[1]
    assert sup.client.get("/exchanges/new").status_code == 403
    path = f"/exchanges/{exchange_id}"
    response = sup.client.post(f"{path}/acknowledge", data={"csrf_token": sup.csrf(path)})
    assert response.status_code == 403
    assert db.session.get(Exchange, exchange_id).acknowledged_at is None
