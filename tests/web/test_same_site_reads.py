"""Audited reads run only on the hub's own requests (Sec-Fetch-Site), so another site
cannot make an officer's browser record readings the officer never chose."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from hub.extensions import db
from hub.models import AuditEntry, User
from hub.operations.actor import Actor
from tests.conftest import make_exchange


def _entries() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(AuditEntry))


@pytest.fixture
def sent(app, demo_users):
    qb = Actor.for_user(db.session.scalar(select(User).where(User.username == "qb.officer")))
    return make_exchange(qb, subject="Yêu cầu xác minh")


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_a_foreign_request_opens_nothing_and_asks(app, browser, sent, site):
    browser.login("qb.officer")
    before = _entries()
    for path in (f"/exchanges/{sent.id}", "/agreements/QB-KM-MOU/compliance.csv"):
        page = browser.client.get(path, headers={"Sec-Fetch-Site": site})
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert f'href="{path}"' in html  # the hub's own link to continue
        assert "Yêu cầu xác minh" not in html
        assert _entries() == before  # nothing opened, nothing exported


@pytest.mark.parametrize("site", ["same-origin", "none", None])
def test_the_hubs_own_request_reads_and_is_audited(app, browser, sent, site):
    browser.login("qb.officer")
    headers = {"Sec-Fetch-Site": site} if site else {}
    before = _entries()
    page = browser.client.get(f"/exchanges/{sent.id}", headers=headers)
    assert page.status_code == 200
    assert "Yêu cầu xác minh" in page.get_data(as_text=True)
    assert _entries() > before
    export = browser.client.get("/agreements/QB-KM-MOU/compliance.csv", headers=headers)
    assert export.status_code == 200
    assert export.mimetype == "text/csv"
