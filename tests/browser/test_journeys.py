"""The three journeys of issue 6, in Chromium, each step asserting what the user reads.

1. qb.officer, in Vietnamese, logs in, opens a case, records a request to
   Khammouane about it with an attachment.
2. km.officer, in Lao, logs in, finds that request, acknowledges and answers it;
   sv.officer (Savannakhet) does not see it.
3. A supervisor switches language and opens the agreement's compliance and audit pages
   (test_journey_3.py).

Every page visited is screenshotted and checked by `Visit.check` (language,
axe-core, no request leaving the hub, no Thai script on Lao pages).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta

from hub.extensions import db
from tests.conftest import PASSWORD, make_exchange

SUBJECT = "Đề nghị xác minh chủ xe tải biển số 73C-123.45"
CASE_TITLE = "Vận chuyển ma túy đá qua cửa khẩu Cha Lo"


def _text(visit, selector: str = "main") -> str:
    return visit.page.inner_text(selector)


def _quiet_db():
    """End the test thread's transaction so the served hub can write (SQLite)."""
    db.session.commit()
    db.session.remove()


def _send_request(case_id: int | None = None) -> int:
    """The request of journey 1, recorded through the operations (for journeys 2 and 3)."""
    from hub.models import User
    from hub.models.base import utcnow
    from hub.operations.actor import Actor

    qb = Actor.for_user(db.session.scalar(db.select(User).filter_by(username="qb.officer")))
    row = make_exchange(
        qb,
        subject=SUBJECT,
        body="Đề nghị phía bạn xác minh chủ sở hữu xe tải.",
        classification="confidential",
        sent_at=utcnow() - timedelta(hours=2),
        case=case_id,
    )
    exchange_id = row.id
    _quiet_db()
    return exchange_id


def _log_in(visit, username: str, lang: str) -> None:
    visit.goto("/login")
    visit.check("login", lang)
    visit.page.fill("#username", username)
    visit.page.fill("#password", PASSWORD)
    visit.page.click("main form button[type=submit]")
    visit.page.wait_for_load_state("load")


def test_journey_1_qb_officer_opens_a_case_and_requests_khammouane(hub_page, demo_users, tmp_path):
    from hub.models import Case, Exchange

    _quiet_db()
    visit = hub_page("vi-VN", who="qb.officer")
    page = visit.page

    _log_in(visit, "qb.officer", "vi")
    visit.check("home", "vi")
    assert page.inner_text("h1") == "Việc cần bạn chú ý"
    assert "Đăng xuất" in _text(visit, "header")

    page.click("header nav >> text=Vụ án")
    visit.check("cases", "vi")
    assert page.inner_text("h1") == "Vụ án"

    page.click("main >> text=Mở vụ án")
    visit.check("case-new", "vi")
    assert page.inner_text("h1") == "Mở vụ án"
    assert page.inner_text("label[for=title]") == "Tiêu đề"
    # Typed in decomposed form (as some Vietnamese keyboards send it); stored composed.
    page.fill("#title", unicodedata.normalize("NFD", CASE_TITLE))
    page.select_option("#organisations", "KM")
    page.select_option("#seizures-0-drug_type", "crystal_meth")
    page.fill("#seizures-0-quantity", "2,5")
    page.select_option("#seizures-0-unit", "kg")
    page.click("main form button[type=submit]")

    visit.check("case-confirm", "vi")
    confirm = _text(visit, ".confirm")
    assert "Kiểm tra số lượng trước khi lưu" in confirm
    assert "Bạn đã nhập “2,5”" in confirm
    page.click("main form button[type=submit]")  # "Xác nhận và lưu"

    visit.check("case-view", "vi")
    assert CASE_TITLE in page.inner_text("h1")
    facts = _text(visit, "dl.facts")
    assert "Đang mở" in facts
    assert "BLO Khăm Muộn" in facts
    seizures = _text(visit, "#seizures")
    assert "Ma túy đá" in seizures
    assert "2,5" in seizures
    case = db.session.scalar(db.select(Case).filter_by(title=CASE_TITLE))
    assert case is not None, "the title was not stored in NFC"
    case_id = case.id
    _quiet_db()

    page.click("main >> text=Ghi nhận trao đổi về vụ án này")
    visit.check("exchange-new", "vi")
    assert page.inner_text("h1") == "Ghi nhận trao đổi"
    page.select_option("#agreement", "QB-KM-MOU")
    page.select_option("#recipient", "KM")
    page.select_option("#kind", "request")
    page.fill("#subject", SUBJECT)
    page.fill("#body", "Đề nghị phía bạn xác minh chủ sở hữu xe tải và lịch trình qua cửa khẩu.")
    page.set_input_files(
        "#attachments",
        files=[
            {
                "name": "bien-ban.pdf",
                "mimeType": "application/pdf",
                "buffer": b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
            }
        ],
    )
    page.click("main form button[type=submit]")  # "Gửi"

    visit.check("exchange-view", "vi")
    assert page.inner_text("h1") == SUBJECT
    facts = _text(visit, "dl.facts")
    assert "Yêu cầu cung cấp thông tin" in facts
    assert "Đã gửi" in facts
    assert "Văn phòng liên lạc qua biên giới tỉnh Khăm Muộn" in facts
    # Vietnamese dates: day first, four-digit year, 24-hour time, the zone named.
    assert re.search(r"\b\d{2}/\d{2}/\d{4} \d{2}:\d{2} \((GMT\+07:00|Giờ Đông Dương)\)", facts)
    assert "Tệp đính kèm 1" in _text(visit)
    exchange = db.session.scalar(db.select(Exchange).filter_by(subject=SUBJECT))
    assert exchange.case_id == case_id
    assert exchange.recipient.code == "KM"
    assert len(exchange.attachments) == 1
    _quiet_db()


def test_journey_2_km_officer_acknowledges_and_answers_and_sv_does_not_see_it(hub_page, demo_users):
    exchange_id = _send_request()

    visit = hub_page("lo-LA", who="km.officer")
    page = visit.page
    _log_in(visit, "km.officer", "lo")
    visit.check("home", "lo")
    assert page.inner_text("h1") == "ສິ່ງທີ່ທ່ານຕ້ອງເອົາໃຈໃສ່"
    assert SUBJECT in _text(visit)  # new, to acknowledge

    page.click("header nav >> text=ການແລກປ່ຽນຂໍ້ມູນ")
    visit.check("exchanges", "lo")
    assert page.inner_text("h1") == "ການແລກປ່ຽນຂໍ້ມູນ"
    page.fill("#q", "73C-123")
    page.click("form.filters button[type=submit]")
    visit.check("exchanges-found", "lo")
    row = page.locator("table.list tbody tr", has_text=SUBJECT)
    assert row.count() == 1
    assert "ຄຳຮ້ອງຂໍຂໍ້ມູນ" in row.inner_text()  # kind: request for information
    assert "BLO ກວາງບິ່ງ" in row.inner_text()  # from Quảng Bình, in Lao
    row.locator("a", has_text=SUBJECT).click()

    visit.check("exchange", "lo")
    facts = _text(visit, "dl.facts")
    assert "ສົ່ງແລ້ວ" in facts  # status: sent
    assert "ລັບ" in facts  # classification: confidential
    page.click("text=ຢືນຢັນການຮັບ")
    visit.check("acknowledged", "lo")
    facts = _text(visit, "dl.facts")
    assert "ຢືນຢັນການຮັບແລ້ວ" in facts  # status: acknowledged, with its time

    page.click("main .actions >> text=ຕອບກັບ")  # respond
    visit.check("respond", "lo")
    assert page.inner_text("h1") == "ຕອບ"
    assert page.input_value("#subject").startswith("ຕອບ: ")
    page.fill("#body", "ລົດບັນທຸກຄັນນີ້ເປັນຂອງບໍລິສັດຂົນສົ່ງແຫ່ງໜຶ່ງໃນທ່າແຂກ.")
    page.click("main form button[type=submit]")
    visit.check("response", "lo")
    facts = _text(visit, "dl.facts")
    assert "ຄຳຕອບ" in facts  # kind: response
    page.click("dl.facts >> text=" + SUBJECT)  # back to the request, now answered
    visit.check("request-answered", "lo")
    assert "ຕອບແລ້ວ" in _text(visit, "dl.facts")

    # Savannakhet is not a party to it: not in its list, and its address is "not found".
    sv = hub_page("lo-LA", who="sv.officer")
    _log_in(sv, "sv.officer", "lo")
    sv.check("home", "lo")
    assert SUBJECT not in _text(sv)
    sv.goto("/exchanges/")
    sv.check("exchanges", "lo")
    assert SUBJECT not in _text(sv)
    response = sv.goto(f"/exchanges/{exchange_id}")
    assert response.status == 404
    sv.check("not-found", "lo")
    assert sv.page.inner_text("h1") == "ບໍ່ພົບ."
