"""Every bad input the issue names gets a clear error naming the field, and nothing is stored."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from hub.extensions import db
from hub.models import (
    Agreement,
    Attachment,
    AuditEntry,
    Case,
    Exchange,
    SealedPayload,
    Seizure,
    Suspect,
)

COUNTED = (Exchange, Case, Seizure, Suspect, Attachment, SealedPayload, AuditEntry)


def counts() -> dict:
    db.session.rollback()
    return {m.__name__: db.session.scalar(select(func.count()).select_from(m)) for m in COUNTED}


def exchange(**extra) -> dict:
    base = {
        "agreement": "QB-KM-MOU",
        "recipient": "KM",
        "kind": "request",
        "subject": "Xác minh phương tiện",
        "body": "Nội dung",
        "classification": "confidential",
        "reliability": "B",
        "credibility": 2,
        "handling": "H0",
    }
    base.update(extra)
    return {k: v for k, v in base.items() if v is not ...}


@pytest.fixture
def qb(demo_users, api_token):
    return api_token("qb.officer")


@pytest.fixture
def km(demo_users, api_token):
    return api_token("km.officer")


@pytest.fixture
def alert_id(client, km):
    response = client.post(
        "/api/v1/exchanges", json=exchange(recipient="QB", kind="alert"), headers=km
    )
    assert response.status_code == 201
    return response.json["id"]


def assert_refused(response, status: int, field: str, before: dict):
    assert response.status_code == status, response.get_data(as_text=True)
    errors = response.json["errors"]
    assert field in errors, errors
    messages = errors[field]
    assert messages
    assert all(isinstance(m, str | dict) and m for m in messages)
    assert counts() == before


REQUIRED = (
    "agreement",
    "recipient",
    "kind",
    "subject",
    "body",
    "classification",
    "reliability",
    "credibility",
    "handling",
)


@pytest.mark.parametrize("field", REQUIRED)
def test_missing_field_is_named(client, qb, field):
    before = counts()
    response = client.post("/api/v1/exchanges", json=exchange(**{field: ...}), headers=qb)
    assert_refused(response, 422, field, before)


FUTURE = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
BAD_EXCHANGES = [
    ("wrong type", {"credibility": "two"}, "credibility"),
    ("bool is not a number", {"credibility": True}, "credibility"),
    ("credibility out of range", {"credibility": 7}, "credibility"),
    ("wrong type for case", {"case": "seven"}, "case"),
    ("unknown agreement", {"agreement": "NO-SUCH"}, "agreement"),
    ("unknown organisation", {"recipient": "XX"}, "recipient"),
    ("recipient not a party", {"recipient": "SV"}, "recipient"),
    ("sending to oneself", {"recipient": "QB"}, "recipient"),
    ("unknown kind", {"kind": "gossip"}, "kind"),
    ("unknown classification", {"classification": "mat"}, "classification"),
    ("reliability", {"reliability": "G"}, "reliability"),
    ("handling", {"handling": "H9"}, "handling"),
    ("H3 needs its restrictions in words", {"handling": "H3"}, "handling_note"),
    ("sent_at in the future", {"sent_at": FUTURE}, "sent_at"),
    ("sent_at without a zone", {"sent_at": "2025-01-02T10:00:00"}, "sent_at"),
    ("sent_at not a date", {"sent_at": "yesterday"}, "sent_at"),
    ("unknown field", {"priority": "high"}, "priority"),
    ("empty subject", {"subject": "   "}, "subject"),
    ("subject too long", {"subject": "x" * 201}, "subject"),
    ("NUL in subject", {"subject": "a\x00b"}, "subject"),
    ("unknown case", {"case": 999999}, "case"),
    ("unknown in_reply_to", {"in_reply_to": 999999}, "in_reply_to"),
    ("response without in_reply_to", {"kind": "response"}, "in_reply_to"),
    (
        "permission_granted outside a permission response",
        {"permission_granted": True},
        "permission_granted",
    ),
]


@pytest.mark.parametrize(
    ("label", "change", "field"), BAD_EXCHANGES, ids=[b[0] for b in BAD_EXCHANGES]
)
def test_bad_exchange_is_refused_and_nothing_stored(client, qb, label, change, field):
    before = counts()
    response = client.post("/api/v1/exchanges", json=exchange(**change), headers=qb)
    assert_refused(response, 422, field, before)


def test_response_to_something_that_is_not_a_request(client, qb, alert_id):
    before = counts()
    response = client.post(
        "/api/v1/exchanges", json=exchange(kind="response", in_reply_to=alert_id), headers=qb
    )
    assert_refused(response, 422, "in_reply_to", before)


def test_response_only_from_the_asked_organisation(client, qb, km):
    request = client.post("/api/v1/exchanges", json=exchange(), headers=qb).json
    before = counts()
    # QB answering its own request.
    response = client.post(
        "/api/v1/exchanges",
        json=exchange(kind="response", in_reply_to=request["id"]),
        headers=qb,
    )
    assert_refused(response, 422, "in_reply_to", before)
    # KM answering to the wrong organisation.
    response = client.post(
        "/api/v1/exchanges",
        json=exchange(
            agreement="VN-LA-BILATERAL", recipient="SV", kind="response", in_reply_to=request["id"]
        ),
        headers=km,
    )
    assert_refused(response, 422, "in_reply_to", before)


def test_agreement_may_narrow_classifications(client, qb):
    agreement = db.session.scalar(select(Agreement).where(Agreement.code == "QB-KM-MOU"))
    agreement.classifications = ["restricted", "confidential"]
    db.session.commit()
    before = counts()
    response = client.post("/api/v1/exchanges", json=exchange(classification="secret"), headers=qb)
    assert_refused(response, 422, "classification", before)
    assert client.post("/api/v1/exchanges", json=exchange(), headers=qb).status_code == 201


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b'{"agreement": "QB-KM-MOU",', "application/json"),
        (b"[1, 2]", "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"agreement=QB-KM-MOU", "application/x-www-form-urlencoded"),
    ],
)
def test_malformed_json_is_400_naming_the_body(client, qb, data, content_type):
    before = counts()
    response = client.post("/api/v1/exchanges", data=data, content_type=content_type, headers=qb)
    assert_refused(response, 400, "_json", before)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page=100000", "page"),
        ("page=2", "page"),  # beyond the last page
        ("per_page=1000", "per_page"),
        ("kind=gossip", "kind"),
        ("date_from=2025-13-01", "date_from"),
        ("date_from=2025-05-02&date_to=2025-05-01", "date_to"),
        ("agreement=NO-SUCH", "agreement"),
        ("partner=XX", "partner"),
        ("partner=QB", "partner"),  # the caller's own organisation
        ("cursor=not-a-cursor", "cursor"),
        ("colour=red", "colour"),
        ("kind=alert&kind=request", "kind"),
    ],
)
def test_bad_list_query_names_the_parameter(client, qb, query, field):
    response = client.get(f"/api/v1/exchanges?{query}", headers=qb)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]


def test_case_page_out_of_range(client, qb):
    response = client.get("/api/v1/cases?page=3", headers=qb)
    assert response.status_code == 422
    assert "page" in response.json["errors"]


def _upload(client, headers, exchange_id, data: bytes, name: str):
    return client.post(
        f"/api/v1/exchanges/{exchange_id}/attachments",
        data={"file": (io.BytesIO(data), name)},
        headers=headers,
        content_type="multipart/form-data",
    )


@pytest.mark.parametrize(
    ("data", "name", "field"),
    [
        (b"MZ\x90\x00\x03\x00\x00\x00", "tool.exe", "file"),
        (b"MZ\x90\x00\x03\x00\x00\x00", "tool.pdf", "file"),
        (b"%PDF-1.4 fake", "report.png", "filename"),
        (b"", "empty.txt", "file"),
        (b"PK\x03\x04 not really a zip", "plan.docx", "file"),
    ],
)
def test_disallowed_attachment_is_refused(client, qb, data, name, field):
    sent = client.post("/api/v1/exchanges", json=exchange(), headers=qb).json
    before = counts()
    assert_refused(_upload(client, qb, sent["id"], data, name), 422, field, before)


def test_oversized_attachment_is_refused(app, client, qb):
    sent = client.post("/api/v1/exchanges", json=exchange(), headers=qb).json
    limit = app.config["HUB"].max_attachment_bytes
    before = counts()
    response = _upload(client, qb, sent["id"], b"a" * (limit + 1), "big.txt")
    assert_refused(response, 422, "file", before)
    # Beyond what the server reads at all: still JSON, still nothing stored.
    response = _upload(client, qb, sent["id"], b"a" * (limit + 2 * 1024 * 1024), "huge.txt")
    assert response.status_code == 413
    assert response.json["errors"]
    assert response.json["code"] == "too_large"  # the one code table (hub.web.errors.CODES)
    assert counts() == before


def test_attachment_only_by_the_sender(client, qb, km):
    sent = client.post("/api/v1/exchanges", json=exchange(), headers=qb).json
    before = counts()
    response = _upload(client, km, sent["id"], b"hello", "note.txt")
    assert response.status_code == 403
    assert counts() == before


CASE = {"title": "Vụ án thử"}
BAD_CASES = [
    ({"title": ""}, "title"),
    ({}, "title"),
    ({"agreements": ["NO-SUCH"]}, "agreements"),
    ({"organisations": ["XX"]}, "organisations"),
    ({"province": "LA-NOWHERE"}, "province"),
    ({"province": "LA-KM", "district": "LA-SV-XP"}, "district"),
    ({"opened_on": "2999-01-01"}, "opened_on"),
    ({"seizures": [{"drug_type": "crystal_meth", "quantity": "2,5", "unit": "kg"}]}, "seizures"),
    ({"seizures": [{"drug_type": "crystal_meth", "quantity": "-1", "unit": "kg"}]}, "seizures"),
    ({"seizures": [{"drug_type": "crystal_meth", "quantity": "NaN", "unit": "kg"}]}, "seizures"),
    ({"seizures": [{"drug_type": "meth_tablets", "quantity": 2.5, "unit": "tablets"}]}, "seizures"),
    ({"seizures": [{"drug_type": "crack", "quantity": 1, "unit": "kg"}]}, "seizures"),
    ({"suspects": [{"name": ""}]}, "suspects"),
    ({"colour": "red"}, "colour"),
]


@pytest.mark.parametrize(("change", "field"), BAD_CASES)
def test_bad_case_is_refused_and_nothing_stored(client, qb, change, field):
    before = counts()
    body = {**CASE, **change} if change else {}
    response = client.post("/api/v1/cases", json=body, headers=qb)
    assert response.status_code == 422, response.json
    names = {key.split(".")[0] for key in response.json["errors"]}
    assert field in names, response.json
    assert counts() == before


def test_illegal_status_change_names_status(client, qb):
    case = client.post("/api/v1/cases", json=CASE, headers=qb).json
    before = counts()
    response = client.post(
        f"/api/v1/cases/{case['id']}/status", json={"status": "prosecuted"}, headers=qb
    )
    assert_refused(response, 422, "status", before)
    response = client.post(
        f"/api/v1/cases/{case['id']}/status", json={"status": "jailed"}, headers=qb
    )
    assert_refused(response, 422, "status", before)


def test_schema_messages_are_translatable():
    from flask_babel.speaklater import LazyString

    from hub.api import schemas

    for field_class in (
        schemas.String,
        schemas.Integer,
        schemas.Boolean,
        schemas.AwareDateTime,
        schemas.Date,
        schemas.List,
        schemas.Nested,
        schemas.Dict,
    ):
        for key in ("required", "null", "invalid" if field_class is not schemas.Nested else "type"):
            assert isinstance(field_class.default_error_messages[key], LazyString), (
                field_class,
                key,
            )
    assert isinstance(schemas.BaseSchema.error_messages["unknown"], LazyString)


@pytest.mark.parametrize(("username", "language"), [("qb.officer", "vi"), ("km.officer", "lo")])
def test_errors_come_in_the_token_owners_language(
    app, client, demo_users, api_token, username, language
):
    from flask_babel import force_locale, gettext

    headers = api_token(username)
    response = client.post(
        "/api/v1/exchanges", json=exchange(agreement="NO-SUCH", priority=1), headers=headers
    )
    assert response.status_code == 422
    with app.test_request_context(), force_locale(language):
        unknown_field = gettext("Unknown field.")
    assert response.json["errors"]["priority"] == [unknown_field]
    assert unknown_field != "Unknown field."  # really translated, not the English source
    with app.test_request_context(), force_locale(language):
        unknown_agreement = gettext("Unknown agreement.")
    body = exchange(agreement="NO-SUCH")
    response = client.post("/api/v1/exchanges", json=body, headers=headers)
    assert response.json["errors"]["agreement"] == [unknown_agreement]
    with app.test_request_context(), force_locale("en"):
        assert gettext("Unknown field.") == "Unknown field."
