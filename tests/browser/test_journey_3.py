"""Journey 3: a supervisor reads in either language: switches language, opens the
agreement's compliance review and its audit log, each page in the chosen language."""

from __future__ import annotations

import re

from tests.browser.test_journeys import _log_in, _send_request, _text

AGREEMENT = "QB-KM-MOU"
LO_DATE = re.compile(r"\b\d{1,2}/\d{1,2}/\d{4}\b")


def test_journey_3_supervisor_switches_language_and_reviews_the_agreement(hub_page, demo_users):
    _send_request()
    visit = hub_page("vi-VN", who="qb.supervisor")
    page = visit.page
    _log_in(visit, "qb.supervisor", "vi")
    visit.check("home", "vi")
    assert page.inner_text("h1") == "Việc cần bạn chú ý"

    # The switcher: Lao from now on, for this supervisor, on every page.
    page.select_option("#lang-select", "lo")
    page.click("form.lang button[type=submit]")
    visit.check("home-lo", "lo")
    assert page.inner_text("h1") == "ສິ່ງທີ່ທ່ານຕ້ອງເອົາໃຈໃສ່"
    assert page.inner_text("label[for=lang-select]") == "ພາສາ"

    page.click("header nav >> text=ການປະຕິບັດຕາມສັນຍາ")
    visit.check("compliance", "lo")
    assert page.inner_text("h1") == "ການປະຕິບັດຕາມສັນຍາ"
    row = page.locator("table.list tbody tr", has_text=AGREEMENT)
    assert "ບົດບັນທຶກຄວາມເຂົ້າໃຈ" in row.inner_text()  # the agreement's title, in Lao
    row.locator("a", has_text=AGREEMENT).click()

    visit.check("dashboard", "lo")
    assert page.inner_text("h1") == "ການທົບທວນການປະຕິບັດຕາມສັນຍາ"
    main = _text(visit)
    assert "ບົດບັນທຶກຄວາມເຂົ້າໃຈ" in main
    assert "ຫ້ອງການປະສານງານຊາຍແດນ ແຂວງຄຳມ່ວນ" in main  # the party, in Lao
    assert "ໄລຍະ" in main  # "Period", with dates as Lao writes them (d/M/yyyy)
    assert LO_DATE.search(main), main[:400]
    assert "ບັນທຶກການກວດສອບ" in main  # the agreement's audit log section

    # The agreement's audit log: actions named in Lao, verified on request.
    page.click("header nav >> text=ບັນທຶກການກວດສອບ")
    visit.check("audit-logs", "lo")
    assert page.inner_text("h1") == "ບັນທຶກການກວດສອບ"
    row = page.locator("table.list tbody tr", has_text="ບົດບັນທຶກຄວາມເຂົ້າໃຈ").filter(
        has_text="ກວາງບິ່ງ ແລະ ແຂວງຄຳມ່ວນ"
    )
    assert row.count() == 1
    row.locator("a").first.click()
    visit.check("audit-log", "lo")
    assert page.inner_text("h1").startswith("ບັນທຶກການກວດສອບ ")
    entries = _text(visit, "table.audit-entries")
    assert "ສົ່ງການແລກປ່ຽນ" in entries  # "Exchange sent", the request of journey 1
    page.click("text=ກວດສອບດຽວນີ້")  # verify now
    visit.check("audit-verified", "lo")
    assert "ກວດສອບແລ້ວ: ທັງໝົດ" in _text(visit, ".flash")

    # And back to Vietnamese: the same review, read in the other language.
    page.select_option("#lang-select", "vi")
    page.click("form.lang button[type=submit]")
    visit.check("audit-log-vi", "vi")
    assert page.inner_text("h1").startswith("Nhật ký truy vết ")
    assert "Đã gửi trao đổi" in _text(visit, "table.audit-entries")
    page.click("header nav >> text=Tuân thủ")
    visit.check("compliance-vi", "vi")
    page.click("main >> text=" + AGREEMENT)
    visit.check("dashboard-vi", "vi")
    assert page.inner_text("h1") == "Đánh giá tuân thủ"
    assert "Văn phòng liên lạc qua biên giới tỉnh Khăm Muộn" in _text(visit)
