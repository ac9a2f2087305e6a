"""A case is shown, and audited, only where every reader sees it (issue 12, items 3 and 6).

- Linking a case to an exchange with an organisation not involved in the case is
  refused, naming the field, on every path that links (send through the API, the
  pages and the importer; the link endpoint); involving the organisation first makes
  it possible.
- A link older data already holds is not shown to a party that does not see the case
  (pages, API, lists, search by reference).
- A case's entries go only to logs all of whose readers see the case: the agreements'
  logs whose parties are all involved, else the own log of each organisation involved;
  never the hub-wide log administrators read. The logs still verify.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from hub.audit import verify
from hub.audit.entry import decode_entry
from hub.extensions import db
from hub.models import AuditEntry, AuditLog, Exchange
from hub.models.audit import HUB_LOG
from hub.operations import imports

QB_KM = "QB-KM-MOU"
MULTI = "VN-LA-BILATERAL"  # QB, KM and SV
REFERENCE = "QB-RIENG-2026-7"
TITLE = "Vụ riêng của Quảng Bình"


def body(**extra) -> dict:
    values = {
        "agreement": QB_KM,
        "recipient": "KM",
        "kind": "alert",
        "subject": "Cảnh báo xe tải",
        "body": "x",
        "classification": "restricted",
        "reliability": "B",
        "credibility": 2,
        "handling": "H0",
    }
    values.update(extra)
    return values


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


def log_entries(name: str) -> list[dict]:
    db.session.rollback()
    log = db.session.scalar(select(AuditLog).where(AuditLog.name == name))
    if log is None:
        return []
    rows = db.session.scalars(
        select(AuditEntry).where(AuditEntry.log_id == log.id).order_by(AuditEntry.index)
    )
    return [decode_entry(bytes(r.leaf_input)) for r in rows]


def case_entries(name: str, case_id: int) -> list[str]:
    return [
        e["action"]
        for e in log_entries(name)
        if e["target_type"] == "case" and e["target_id"] == str(case_id)
    ]


@pytest.fixture
def qb(api_token, demo_users):
    return api_token("qb.officer")


@pytest.fixture
def own_case(client, qb) -> int:
    """A case of QB alone (no other organisation involved)."""
    response = client.post(
        "/api/v1/cases", json={"title": TITLE, "reference": REFERENCE}, headers=qb
    )
    assert response.status_code == 201, response.json
    return response.json["id"]


def _refused_on_case(response) -> None:
    assert response.status_code == 422, response.get_data(as_text=True)
    assert list(response.json["errors"]) == ["case"], response.json
    assert "KM" in response.json["errors"]["case"][0]


# --- the link is refused on every path --------------------------------------------------


def test_api_send_with_a_case_the_recipient_is_not_in_is_refused(client, qb, own_case):
    before = count(Exchange), count(AuditEntry)
    _refused_on_case(client.post("/api/v1/exchanges", json=body(case=own_case), headers=qb))
    assert (count(Exchange), count(AuditEntry)) == before


def test_api_link_is_refused_then_allowed_once_involved(client, qb, api_token, own_case):
    exchange = client.post("/api/v1/exchanges", json=body(), headers=qb).json["id"]
    km = api_token("km.officer")
    before = count(AuditEntry)
    _refused_on_case(
        client.put(f"/api/v1/exchanges/{exchange}/case", json={"case": own_case}, headers=qb)
    )
    # KM, the other party, cannot link its exchange to QB's case either (it cannot see it).
    refused = client.put(f"/api/v1/exchanges/{exchange}/case", json={"case": own_case}, headers=km)
    assert refused.status_code == 422
    assert list(refused.json["errors"]) == ["case"]
    assert db.session.get(Exchange, exchange).case_id is None
    assert count(AuditEntry) == before
    # Involve KM first: then the link is made, and KM sees the case it is linked to.
    patched = client.patch(f"/api/v1/cases/{own_case}", json={"organisations": ["KM"]}, headers=qb)
    assert patched.status_code == 200, patched.json
    linked = client.put(f"/api/v1/exchanges/{exchange}/case", json={"case": own_case}, headers=qb)
    assert linked.status_code == 200, linked.json
    assert client.get(f"/api/v1/exchanges/{exchange}", headers=km).json["case"] == own_case


def test_page_send_with_such_a_case_reshows_the_form(client, browser, own_case):
    assert browser.login("qb.officer").status_code == 302
    form = client.get(f"/exchanges/new?case={own_case}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', form).group(1)
    before = count(Exchange)
    response = client.post(
        "/exchanges/new",
        data={**{k: str(v) for k, v in body().items()}, "case": str(own_case), "csrf_token": token},
    )
    assert response.status_code == 422
    assert "KM" in response.get_data(as_text=True)
    assert count(Exchange) == before


HEADER = (
    "row,agreement,recipient,kind,subject,body,language,classification,reliability,"
    "credibility,handling,handling_note,sent_at,case,in_reply_to"
)


def _actor(username: str):
    from hub.models import User
    from hub.operations.actor import Actor

    return Actor.for_user(db.session.scalar(select(User).where(User.username == username)))


def test_importer_refuses_such_a_link_on_its_line(app, own_case, tmp_path):
    path = tmp_path / "sent.csv"
    path.write_text(
        HEADER + "\n"
        f"r1,{QB_KM},KM,alert,Cảnh báo,x,vi,restricted,B,2,H0,,2026-01-02T08:00,{REFERENCE},\n",
        encoding="utf-8",
    )
    with app.test_request_context(headers={"Accept-Language": "en"}):
        report = imports.import_exchanges(_actor("qb.officer"), path)
    assert [(e.line, e.field) for e in report.errors] == [(2, "case")]
    assert count(Exchange) == 0


def test_importer_refuses_it_for_a_received_row_too(app, own_case, tmp_path):
    """QB records an alert KM sent it, linked to QB's own case: KM is not involved."""
    path = tmp_path / "received.csv"
    path.write_text(
        HEADER + ",sender\n"
        f"r1,{QB_KM},QB,alert,Cảnh báo,x,lo,restricted,B,2,H0,,2026-01-02T08:00,{REFERENCE},,KM\n",
        encoding="utf-8",
    )
    with app.test_request_context(headers={"Accept-Language": "en"}):
        report = imports.import_exchanges(_actor("qb.officer"), path)
    assert [(e.line, e.field) for e in report.errors] == [(2, "case")]
    assert count(Exchange) == 0


# --- links older data holds are not shown -----------------------------------------------


@pytest.fixture
def leaked(client, qb, own_case) -> int:
    """An exchange QB -> KM linked to QB's own case, as older data may hold it."""
    exchange = client.post("/api/v1/exchanges", json=body(), headers=qb).json["id"]
    row = db.session.get(Exchange, exchange)
    row.case_id = own_case
    db.session.commit()
    return exchange


def test_the_partner_sees_no_detail_of_an_older_link(app, client, api_token, leaked, own_case):
    from tests.conftest import Browser

    km = api_token("km.officer")
    assert client.get(f"/api/v1/exchanges/{leaked}", headers=km).json["case"] is None
    items = client.get("/api/v1/exchanges", headers=km).json["items"]
    assert [i["case"] for i in items if i["id"] == leaked] == [None]
    # Searching by the case's reference finds nothing of it.
    found = client.get(f"/api/v1/exchanges?q={REFERENCE}", headers=km).json["items"]
    assert found == []
    assert client.get(f"/api/v1/exchanges?case={own_case}", headers=km).json["items"] == []
    subject = body()["subject"]
    db.session.rollback()  # SQLite: the browsers' sessions below write (logins)
    for name in ("km.officer", "km.supervisor"):
        with app.app_context():
            browser = Browser(app.test_client())
            assert browser.login(name).status_code == 302
            for path in (f"/exchanges/{leaked}", "/exchanges/"):
                page = browser.client.get(path)
                assert page.status_code == 200, (name, path)
                text = page.get_data(as_text=True)
                assert REFERENCE not in text, (name, path)
                assert TITLE not in text, (name, path)
            search = browser.client.get(f"/exchanges/?q={REFERENCE}").get_data(as_text=True)
            assert subject not in search
            if name == "km.officer":
                form = browser.client.get(f"/exchanges/new?in_reply_to={leaked}")
                assert form.status_code == 200
                assert REFERENCE not in form.get_data(as_text=True)
    # QB, which sees the case, still does.
    qb_view = client.get(f"/api/v1/exchanges/{leaked}", headers=api_token("qb.officer")).json
    assert qb_view["case"] == own_case


def test_later_case_entries_do_not_reach_the_partners_log(client, qb, leaked, own_case):
    before = case_entries(QB_KM, own_case)
    client.post(
        f"/api/v1/cases/{own_case}/seizures",
        json={"drug_type": "heroin", "quantity": "2.5", "unit": "kg"},
        headers=qb,
    )
    client.post(f"/api/v1/cases/{own_case}/status", json={"status": "investigating"}, headers=qb)
    client.post(f"/api/v1/cases/{own_case}/suspects", json={"name": "Nguyễn Văn A"}, headers=qb)
    client.get(f"/api/v1/cases/{own_case}", headers=qb)  # opens the suspect: audited
    assert case_entries(QB_KM, own_case) == before
    mine = case_entries("org:QB", own_case)
    assert {"seizure_recorded", "case_status_changed", "suspect_recorded"} <= set(mine)
    opened = [e for e in log_entries("org:QB") if e["action"] == "payload_opened"]
    assert opened
    assert {e["target_type"] for e in opened} == {"suspect"}
    assert all(r.ok for r in verify.verify(db.engine))


def test_a_multilateral_log_gets_no_entry_of_a_case_one_party_is_not_in(client, qb, api_token):
    """A QB+KM case worked under VN-LA-BILATERAL: SV reads that log, so the case's
    entries go to QB's and KM's own logs instead."""
    case = client.post(
        "/api/v1/cases",
        json={"title": "Vụ chung QB-KM", "organisations": ["KM"], "agreements": [MULTI]},
        headers=qb,
    ).json["id"]
    sent = client.post("/api/v1/exchanges", json=body(agreement=MULTI, case=case), headers=qb)
    assert sent.status_code == 201, sent.json
    client.post(
        f"/api/v1/cases/{case}/seizures",
        json={"drug_type": "heroin", "quantity": "1", "unit": "kg"},
        headers=api_token("km.officer"),
    )
    assert case_entries(MULTI, case) == []
    for org in ("QB", "KM"):
        assert {"case_opened", "seizure_recorded"} <= set(case_entries(f"org:{org}", case))
    assert case_entries("org:SV", case) == []
    # A case all of whose organisations are parties: entries go to that agreement's log.
    joint = client.post(
        "/api/v1/cases",
        json={"title": "Vụ chung", "organisations": ["KM"], "agreements": [QB_KM]},
        headers=qb,
    ).json["id"]
    assert case_entries(QB_KM, joint) == ["case_opened"]
    assert case_entries("org:QB", joint) == []


# --- administrators see no case data, the hub-wide log included ---------------------------


def test_no_case_data_in_the_hub_log(app, client, qb, api_token):
    from tests.conftest import Browser

    case = client.post(
        "/api/v1/cases",
        json={
            "title": TITLE,
            "reference": REFERENCE,
            "seizures": [{"drug_type": "heroin", "quantity": "3", "unit": "kg"}],
            "suspects": [{"name": "Trần Thị B"}],
        },
        headers=qb,
    ).json["id"]
    client.get(f"/api/v1/cases/{case}", headers=qb)  # the suspect opened: audited
    hub = log_entries(HUB_LOG)
    assert not [e for e in hub if e["target_type"] in ("case", "suspect")]
    assert REFERENCE not in repr(hub)
    # The admin's view of the hub log, API and page, holds nothing of it either.
    admin = api_token("admin")
    served = client.get(f"/api/v1/agreements/{HUB_LOG}/audit/entries?start=0", headers=admin)
    assert served.status_code == 200
    assert REFERENCE not in served.get_data(as_text=True)
    db.session.rollback()  # SQLite: the browsers' sessions below write (logins)
    with app.app_context():
        browser = Browser(app.test_client())
        assert browser.login("admin").status_code == 302
        page = browser.client.get(f"/audit/{HUB_LOG}").get_data(as_text=True)
        assert REFERENCE not in page
        assert "org:QB" not in browser.client.get("/audit").get_data(as_text=True)
        assert browser.client.get("/audit/org:QB").status_code == 404
    # QB's own log has them, and QB's supervisor reads it.
    assert {"case_opened", "seizure_recorded", "suspect_recorded"} <= set(
        case_entries("org:QB", case)
    )
    db.session.rollback()
    with app.app_context():
        supervisor = Browser(app.test_client())
        assert supervisor.login("qb.supervisor").status_code == 302
        assert "org:QB" in supervisor.client.get("/audit").get_data(as_text=True)
        own = supervisor.client.get("/audit/org:QB")
        assert own.status_code == 200
        assert REFERENCE in own.get_data(as_text=True)
    assert all(r.ok for r in verify.verify(db.engine))


def test_an_organisations_own_log_is_read_by_that_organisation_only(
    client, qb, api_token, demo_users
):
    from hub.cli.setup import DEMO_ACCOUNTS

    client.post("/api/v1/cases", json={"title": TITLE}, headers=qb)
    wrong = []
    for name, org, role, _lang in DEMO_ACCOUNTS:
        response = client.get(
            "/api/v1/agreements/org:QB/audit/entries?start=0", headers=api_token(name)
        )
        want = 200 if org == "QB" and role != "admin" else 404
        if response.status_code != want:
            wrong.append(f"{name}: {response.status_code}, want {want}")
    assert not wrong, wrong


def test_importer_answers_a_partners_reference_as_an_unknown_one(app, own_case, tmp_path):
    """KM names QB's case reference: the same answer as for a reference nobody uses."""
    path = tmp_path / "km.csv"
    path.write_text(
        HEADER + "\n"
        f"r1,{QB_KM},QB,alert,Cảnh báo,x,lo,restricted,B,2,H0,,2026-01-02T08:00,{REFERENCE},\n"
        f"r2,{QB_KM},QB,alert,Cảnh báo,x,lo,restricted,B,2,H0,,2026-01-02T08:00,NO-SUCH-REF,\n",
        encoding="utf-8",
    )
    with app.test_request_context(headers={"Accept-Language": "en"}):
        report = imports.import_exchanges(_actor("km.officer"), path)
        messages = [(e.field, str(e.message)) for e in report.errors]
    assert len(messages) == 2
    assert messages[0] == messages[1]
    assert messages[0][0] == "case"
