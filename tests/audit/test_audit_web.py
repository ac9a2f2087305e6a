"""The supervisors' audit pages: the log, filters, checkpoint, verify now."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hub.audit import checkpoints, note
from hub.extensions import db
from hub.models import AuditLog
from hub.operations import audit
from hub.operations.actor import SYSTEM
from tests.support.audit_support import make_hub_key, tamper

LOG = "QB-KM-MOU"


@pytest.fixture
def supervisor(browser, make_user):
    make_user("qb.sup", org="QB", role="supervisor", language="en")
    assert browser.login("qb.sup").status_code == 302
    return browser


def _record(action: str, n: int = 1) -> None:
    for i in range(n):
        audit.record(action, actor=SYSTEM, target_type="exchange", target_id=i, logs=[LOG])
    db.session.commit()


def test_the_log_page_shows_translated_actions_and_unknown_codes_raw(app, supervisor):
    _record("exchange_sent", 3)
    _record("mystery_action")
    listing = supervisor.client.get("/audit").get_data(as_text=True)
    assert LOG in listing
    assert "QB-SV-MOU" in listing
    assert 'href="/audit/hub"' not in listing  # the hub-wide log is the administrators'
    page = supervisor.client.get(f"/audit/{LOG}").get_data(as_text=True)
    assert "Exchange sent" in page
    assert "Agreement created" in page
    assert "mystery_action" in page  # no label: shown as the code itself
    filtered = supervisor.client.get(f"/audit/{LOG}?action=exchange_sent").get_data(as_text=True)
    assert "3 matching entries" in filtered
    assert "mystery_action</span>" not in filtered


def test_verify_now_records_the_result_and_names_a_tampered_index(app, supervisor):
    _record("exchange_sent", 5)
    csrf = supervisor.csrf(f"/audit/{LOG}")
    answer = supervisor.client.post(f"/audit/{LOG}/verify", data={"csrf_token": csrf})
    assert answer.status_code == 302
    page = supervisor.client.get(f"/audit/{LOG}").get_data(as_text=True)
    assert "Verified: all 6 entries" in page
    log_id = db.session.scalar(select(AuditLog.id).where(AuditLog.name == LOG))
    tamper(app, 'DELETE FROM audit_entries WHERE log_id = :l AND "index" = 2', l=log_id)
    supervisor.client.post(f"/audit/{LOG}/verify", data={"csrf_token": csrf})
    page = supervisor.client.get(f"/audit/{LOG}").get_data(as_text=True)
    assert "Verification failed" in page
    assert f"audit log {LOG}: entry is missing at index 2" in page
    db.session.expire_all()
    assert (
        db.session.scalar(select(AuditLog.last_verified_ok).where(AuditLog.id == log_id)) is False
    )


def test_verify_now_needs_the_csrf_token(app, supervisor):
    assert supervisor.client.post(f"/audit/{LOG}/verify").status_code == 400


def test_a_partner_downloads_a_checkpoint_to_keep(app, supervisor):
    make_hub_key(app)
    _record("exchange_sent", 2)
    answer = supervisor.client.get(f"/audit/{LOG}/checkpoint.txt")
    assert answer.status_code == 200
    assert "attachment" in answer.headers["Content-Disposition"]
    parsed = note.verify_checkpoint(
        answer.get_data(), checkpoints.vkeys()[-1], origin=checkpoints.origin_for(LOG)
    )
    assert parsed.size == 3
    page = supervisor.client.get(f"/audit/{LOG}").get_data(as_text=True)
    assert "blo-hub/audit/QB-KM-MOU" in page  # the latest checkpoint's text


def test_officers_and_other_provinces_do_not_see_the_log(app, browser, make_user):
    make_user("qb.off", org="QB", role="officer", language="en")
    make_user("sv.sup", org="SV", role="supervisor", language="en")
    browser.login("qb.off")
    assert browser.client.get(f"/audit/{LOG}").status_code == 403
    browser.client.post("/logout", data={"csrf_token": browser.csrf("/")})
    browser.login("sv.sup")
    assert browser.client.get(f"/audit/{LOG}").status_code == 404
    assert browser.client.get("/audit/QB-SV-MOU").status_code == 200
    assert "QB-KM-MOU" not in browser.client.get("/audit").get_data(as_text=True)
