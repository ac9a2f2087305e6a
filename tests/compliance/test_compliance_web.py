"""Compliance pages, exports (CSV with BOM, PDF with shaped Lao) and obligation editing."""

from __future__ import annotations

import io
import re
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from hub.extensions import db
from hub.models import Agreement, AuditEntry, AuditLog, Organisation
from tests.conftest import compliance_row as _add

DAY = timedelta(days=1)
Q1 = {"from": "2024-01-01", "to": "2024-03-31"}


def _org(code):
    return db.session.scalar(select(Organisation).where(Organisation.code == code))


def _agreement(code="QB-KM-MOU"):
    return db.session.scalar(select(Agreement).where(Agreement.code == code))


@pytest.fixture
def fixture_q1(app):
    t0 = datetime(2024, 1, 10, 3, 0, tzinfo=UTC)
    rows = [_add("request", t0, answered_at=t0 + d * DAY) for d in (2, 7, 9)]
    rows.append(_add("alert", t0 + 30 * DAY, sender="KM", recipient="QB"))
    rows.append(_add("meeting", t0 + 5 * DAY))
    return rows


def _entries(code):
    log = db.session.scalar(select(AuditLog).where(AuditLog.name == code))
    return db.session.scalar(select(func.count()).where(AuditEntry.log_id == log.id)) if log else 0


def test_dashboard_for_a_party_supervisor(browser, demo_users, fixture_q1):
    browser.login("km.supervisor")
    page = browser.client.get("/agreements/QB-KM-MOU/compliance", query_string=Q1)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<svg" in html
    assert "<text" in html
    assert "state-breached" in html  # the late answer
    assert f"#{fixture_q1[2].id}" in html  # the late request is evidence
    assert "2024-01" in html
    assert "Content-Security-Policy" in page.headers
    assert 'style="' not in html  # the CSP forbids inline styles: charts use attributes


def test_the_period_is_typed_day_first_as_the_page_shows_it(browser, demo_users, fixture_q1):
    browser.login("km.supervisor")
    typed = {"period": "custom", "from": "1/1/2024", "to": "31/03/2024"}
    as_iso = {"period": "custom", "from": "2024-01-01", "to": "2024-03-31"}
    page = browser.client.get("/agreements/QB-KM-MOU/compliance", query_string=typed)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert re.search(r'<input type="text"[^>]*placeholder="ວວ/ດດ/ປປປປ"[^>]*name="from"', html)
    assert 'value="01/01/2024"' in html
    typed_csv = browser.client.get("/agreements/QB-KM-MOU/compliance.csv", query_string=typed)
    iso_csv = browser.client.get("/agreements/QB-KM-MOU/compliance.csv", query_string=as_iso)
    assert typed_csv.status_code == iso_csv.status_code == 200
    # The same report; only the audit panel differs (the first export is in the log).
    typed_lines = typed_csv.data.decode("utf-8-sig").splitlines()
    iso_lines = iso_csv.data.decode("utf-8-sig").splitlines()
    differing = [a for a, b in zip(typed_lines, iso_lines, strict=True) if a != b]
    assert len(typed_lines) > 10
    assert len(differing) <= 1, differing
    bad = browser.client.get(
        "/agreements/QB-KM-MOU/compliance", query_string={**typed, "from": "2024/13/01"}
    )
    assert bad.status_code == 422
    assert 'id="from-error"' in bad.get_data(as_text=True)


def test_non_party_gets_404_and_bad_input_is_named(browser, demo_users, fixture_q1):
    browser.login("sv.supervisor")
    assert browser.client.get("/agreements/QB-KM-MOU/compliance").status_code == 404
    assert browser.client.get("/agreements/QB-KM-MOU/compliance.csv").status_code == 404
    assert browser.client.get("/agreements/NOPE/compliance").status_code == 404
    browser.client.post("/logout", data={"csrf_token": browser.csrf("/")})
    browser.login("qb.supervisor")
    bad = browser.client.get(
        "/agreements/QB-KM-MOU/compliance",
        query_string={"from": "2024-03-01", "to": "2024-02-01"},
        headers={"Accept-Language": "en"},
    )
    assert bad.status_code == 422
    with force_locale("vi"):  # qb.supervisor reads Vietnamese
        expected = gettext("The period ends before it starts.")
    assert expected in bad.get_data(as_text=True)
    malformed = browser.client.get(
        "/agreements/QB-KM-MOU/compliance.csv", query_string={"from": "2024-02-30"}
    )
    assert malformed.status_code == 422


def test_csv_export_has_bom_figures_and_is_audited(browser, demo_users, fixture_q1):
    browser.login("qb.supervisor")
    before = _entries("QB-KM-MOU")
    got = browser.client.get("/agreements/QB-KM-MOU/compliance.csv", query_string=Q1)
    assert got.status_code == 200
    assert got.data.startswith(b"\xef\xbb\xbf")
    text = got.data.decode("utf-8-sig")
    assert "response_time.on_time,2" not in text  # value and key are separate cells
    assert re.search(r",2,response_time\.on_time\r?\n", text)
    assert re.search(r",1,response_time\.late\r?\n", text)
    assert "attachment" in got.headers["Content-Disposition"]
    assert _entries("QB-KM-MOU") == before + 1
    entry = db.session.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1))
    assert entry.action == "compliance_exported"


def test_csv_in_vietnamese(browser, demo_users, fixture_q1):
    browser.login("qb.supervisor")  # language vi
    text = browser.client.get("/agreements/QB-KM-MOU/compliance.csv", query_string=Q1).data
    text = text.decode("utf-8-sig")
    assert _agreement().title_vi in text


def _pdf_text(data: bytes) -> tuple[int, str]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return len(reader.pages), unicodedata.normalize("NFC", text)


@pytest.mark.slow
def test_pdf_in_lao_has_shaped_lao_and_four_pages(browser, demo_users, fixture_q1):
    browser.login("km.supervisor")  # language lo
    before = _entries("QB-KM-MOU")
    got = browser.client.get("/agreements/QB-KM-MOU/compliance.pdf", query_string=Q1)
    assert got.status_code == 200
    assert got.mimetype == "application/pdf"
    pages, text = _pdf_text(got.data)
    # Summary and audit; monthly chart; response chart; evidence and overdue.
    assert pages == 4
    squeeze = re.sub(r"\s+", "", text)
    # Lao reference data, already in Lao script, comes out of the PDF as Lao text.
    assert re.sub(r"\s+", "", _agreement().title_lo) in squeeze
    assert re.sub(r"\s+", "", _org("KM").names[0].name_lo) in squeeze
    assert not re.search("[\u0e00-\u0e7f]", text)  # no Thai code points
    # Headings come out in Lao script wherever the Lao catalog translates them.
    from hub.compliance.rules import rule_for

    with force_locale("lo"):
        headings = [
            gettext("Compliance review"),
            gettext("Obligations at a glance"),
            gettext("Audit log"),
            str(rule_for("response_time").label),
        ]
    for heading in headings:
        if re.search("[\u0e80-\u0eff]", heading):
            assert re.sub(r"\s+", "", heading) in squeeze
    assert _entries("QB-KM-MOU") == before + 1


def test_admin_edits_obligations_in_the_pages(browser, demo_users):
    browser.login("admin")
    page = browser.client.get("/agreements/QB-KM-MOU/obligations")
    assert page.status_code == 200
    ob = _agreement().obligation("response_time")
    token = browser.csrf("/agreements/QB-KM-MOU/obligations")
    before = _entries("QB-KM-MOU")
    bad = browser.client.post(
        f"/agreements/QB-KM-MOU/obligations/{ob.id}",
        data={"csrf_token": token, f"{ob.id}-days": "0", f"{ob.id}-active": "on"},
        headers={"Accept-Language": "en"},
    )
    assert bad.status_code == 422
    with force_locale("en"):  # the admin account has no language; the browser asks for en
        expected = gettext("Enter a number greater than zero.")
    assert expected in bad.get_data(as_text=True)
    db.session.expire_all()
    assert _agreement().obligation("response_time").params["days"] == 7
    assert _entries("QB-KM-MOU") == before
    good = browser.client.post(
        f"/agreements/QB-KM-MOU/obligations/{ob.id}",
        data={
            "csrf_token": token,
            f"{ob.id}-days": "5",
            f"{ob.id}-warning_days": "1",
            f"{ob.id}-active": "on",
        },
    )
    assert good.status_code == 302
    db.session.expire_all()
    assert _agreement().obligation("response_time").params == {"days": 5, "warning_days": 1}
    assert _entries("QB-KM-MOU") == before + 1


def test_officers_cannot_edit_obligations(browser, demo_users):
    browser.login("qb.supervisor")
    assert browser.client.get("/agreements/QB-KM-MOU/obligations").status_code == 403


def test_index_lists_only_the_organisations_agreements(browser, demo_users):
    browser.login("km.supervisor")
    html = browser.client.get("/compliance").get_data(as_text=True)
    assert "QB-KM-MOU" in html
    assert "QB-SV-MOU" not in html
    assert "/obligations" not in html
    page = browser.client.get(
        "/agreements/QB-KM-MOU/compliance", query_string={"period": "programme"}
    )
    assert page.status_code == 200
    assert "2025" in page.get_data(as_text=True)
