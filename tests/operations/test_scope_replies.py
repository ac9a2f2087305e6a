"""A reply stays between the two parties of what it answers (issue 12, item 4).

Under a multilateral agreement (VN-LA-BILATERAL: QB, KM, SV) KM must not answer
QB's request with an alert to SV: SV would see the subject of a request it cannot
open, and QB a reply it cannot open listed under its own request. The rule is in
the one send validation, so every face that records an exchange gets it; what
older data already holds is not shown to whoever is not a party of it.
"""

from __future__ import annotations

import re
from functools import partial

import pytest
from sqlalchemy import func, select

from hub.errors import ValidationFailed
from hub.extensions import db
from hub.models import AuditEntry, Exchange
from hub.operations import exchanges, imports
from hub.operations.actor import Actor
from tests.conftest import new_exchange

AGREEMENT = "VN-LA-BILATERAL"


#: A request under AGREEMENT (tests pass only what they are about).
new = partial(
    new_exchange,
    agreement=AGREEMENT,
    subject="Yêu cầu xác minh H2",
    body="Nội dung kín",
    handling="H2",
)


@pytest.fixture
def actors(app, demo_users):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield {name: Actor.for_user(user) for name, user in demo_users.items()}


@pytest.fixture
def request_to_km(actors):
    return exchanges.send(actors["qb.officer"], new())


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


CROSSING = {"agreement": AGREEMENT, "recipient": "SV", "kind": "alert", "subject": "Cảnh báo SV"}


def test_operation_refuses_a_reply_to_a_third_party(actors, request_to_km):
    before = count(Exchange), count(AuditEntry)
    with pytest.raises(ValidationFailed) as caught:
        exchanges.send(actors["km.officer"], new(**CROSSING, in_reply_to=request_to_km.id))
    assert list(caught.value.errors) == ["recipient"]
    assert (count(Exchange), count(AuditEntry)) == before
    # Between the two parties the same reply is fine, either way round.
    exchanges.send(
        actors["km.officer"], new(kind="alert", recipient="QB", in_reply_to=request_to_km.id)
    )
    exchanges.send(
        actors["qb.officer"], new(kind="alert", recipient="KM", in_reply_to=request_to_km.id)
    )


def test_responses_and_permission_requests_keep_their_own_message(actors, request_to_km):
    km = actors["km.officer"]
    with pytest.raises(ValidationFailed) as caught:
        exchanges.send(km, new(kind="response", recipient="SV", in_reply_to=request_to_km.id))
    assert caught.value.errors["recipient"] == ["A response goes to the organisation that asked."]
    with pytest.raises(ValidationFailed) as caught:
        exchanges.send(
            km, new(kind="permission_request", recipient="SV", in_reply_to=request_to_km.id)
        )
    assert caught.value.errors["recipient"] == [
        "Ask the organisation that provided the information."
    ]


def test_api_refuses_it_naming_the_field(client, api_token, request_to_km):
    body = {
        **CROSSING,
        "body": "x",
        "classification": "restricted",
        "reliability": "B",
        "credibility": 2,
        "handling": "H0",
        "in_reply_to": request_to_km.id,
    }
    before = count(Exchange)
    response = client.post("/api/v1/exchanges", json=body, headers=api_token("km.officer"))
    assert response.status_code == 422, response.json
    assert "recipient" in response.get_data(as_text=True)
    assert count(Exchange) == before


def test_page_refuses_it_and_reshows_the_form(app, client, browser, request_to_km):
    assert browser.login("km.officer").status_code == 302
    form = client.get(f"/exchanges/new?in_reply_to={request_to_km.id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', form).group(1)
    before = count(Exchange)
    response = client.post(
        "/exchanges/new",
        data={
            "csrf_token": token,
            "agreement": AGREEMENT,
            "recipient": "SV",
            "kind": "alert",
            "subject": "Cảnh báo SV",
            "body": "x",
            "classification": "restricted",
            "reliability": "B",
            "credibility": "2",
            "handling": "H0",
            "in_reply_to": str(request_to_km.id),
        },
    )
    assert response.status_code == 422
    assert count(Exchange) == before


def test_importer_refuses_it_on_its_line(app, actors, request_to_km, tmp_path):
    header = (
        "row,agreement,recipient,kind,subject,body,language,classification,reliability,"
        "credibility,handling,handling_note,sent_at,case,in_reply_to\n"
    )
    path = tmp_path / "replies.csv"
    path.write_text(
        header + f"r1,{AGREEMENT},SV,alert,Cảnh báo SV,x,lo,restricted,B,2,H0,,2026-01-02T08:00,,"
        f"#{request_to_km.id}\n",
        encoding="utf-8",
    )
    before = count(Exchange)
    report = imports.import_exchanges(actors["km.officer"], path)
    assert [(e.line, e.field) for e in report.errors] == [(2, "recipient")]
    assert count(Exchange) == before


def test_received_rows_are_checked_from_the_senders_side(app, actors, request_to_km, tmp_path):
    """SV records an alert KM sent it "in reply to" QB's request: refused the same way."""
    header = (
        "row,agreement,recipient,kind,subject,body,language,classification,reliability,"
        "credibility,handling,handling_note,sent_at,case,in_reply_to,sender\n"
    )
    path = tmp_path / "received.csv"
    path.write_text(
        header + f"r1,{AGREEMENT},SV,alert,Cảnh báo,x,lo,restricted,B,2,H0,,2026-01-02T08:00,,"
        f"#{request_to_km.id},KM\n",
        encoding="utf-8",
    )
    report = imports.import_exchanges(actors["sv.officer"], path)
    assert not report.ok
    assert [e.field for e in report.errors] == ["recipient"]


def _crossing_reply_from_older_data(actors, request_to_km) -> Exchange:
    """A crossing reply as older data may hold it (written before the rule existed)."""
    alert = exchanges.send(actors["km.officer"], new(**CROSSING))
    alert.in_reply_to_id = request_to_km.id
    db.session.commit()
    return alert


def test_older_crossing_replies_are_not_shown_across(client, api_token, actors, request_to_km):
    alert = _crossing_reply_from_older_data(actors, request_to_km)
    request_id, alert_id = request_to_km.id, alert.id
    # QB: its request lists no reply it cannot open.
    qb = client.get(f"/api/v1/exchanges/{request_id}", headers=api_token("qb.officer")).json
    assert alert_id not in qb["replies"]
    # SV: the alert names no request SV cannot see.
    sv = client.get(f"/api/v1/exchanges/{alert_id}", headers=api_token("sv.officer")).json
    assert sv["in_reply_to"] is None
    # KM is a party of both: it still sees the thread.
    km = client.get(f"/api/v1/exchanges/{request_id}", headers=api_token("km.officer")).json
    assert alert_id in km["replies"]


@pytest.mark.parametrize(
    ("viewer", "shown", "hidden"),
    [("qb.officer", "request", "alert"), ("sv.officer", "alert", "request")],
)
def test_older_crossing_replies_not_on_the_pages(app, actors, request_to_km, viewer, shown, hidden):
    from tests.conftest import Browser

    alert = _crossing_reply_from_older_data(actors, request_to_km)
    ids = {"request": request_to_km.id, "alert": alert.id}
    subjects = {"request": request_to_km.subject, "alert": alert.subject}
    browser = Browser(app.test_client())
    assert browser.login(viewer).status_code == 302
    page = browser.client.get(f"/exchanges/{ids[shown]}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert subjects[hidden] not in text
    assert f"/exchanges/{ids[hidden]}" not in text
