"""One input-cleaning path: the strict JSON parser (depth, duplicate keys), bidirectional
controls, structured fields and date bounds, the same for the API, the pages and imports."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from hub.operations import checks
from hub.text import clean
from tests.api.test_api_bad_input import assert_refused, counts, exchange


@pytest.fixture
def qb(demo_users, api_token):
    return api_token("qb.officer")


def post_raw(client, headers, text: str):
    return client.post(
        "/api/v1/exchanges",
        data=text.encode("utf-8"),
        headers={**headers, "Content-Type": "application/json"},
    )


# --- the parser ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[" * 100_000, "too_deep"),
        ('{"a":' * 5_000 + "1" + "}" * 5_000, "too_deep"),
        ("[" * 65 + "]" * 65, "too_deep"),
        ('{"a": 1, "a": 2}', "duplicate_key"),
        ('{"a": NaN}', "constant"),
        ('{"a": -Infinity}', "constant"),
        ("{", "syntax"),
        (b"\xff\xfe", "syntax"),
    ],
)
def test_the_parser_refuses(text, reason):
    from hub.crypto import strict_json

    with pytest.raises(strict_json.JSONRefused) as caught:
        strict_json.loads(text)
    assert caught.value.reason == reason


def test_the_parser_reads_ordinary_json():
    from hub.crypto import strict_json

    assert strict_json.loads('{"a": [1, 2.5, {"b": null}]}') == {"a": [1, 2.5, {"b": None}]}
    assert strict_json.loads("[" * 64 + "]" * 64)
    with pytest.raises(strict_json.JSONRefused):
        strict_json.loads('{"a": 2.5}', fractions=False)


# --- the API ------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [900, 940, 960, 970, 980, 5_000, 100_000])
def test_deeply_nested_fields_are_a_400_not_a_500(client, qb, levels):
    before = counts()
    body = json.dumps(exchange())[:-1] + ', "fields": ' + '{"a":' * levels + "1" + "}" * levels
    response = post_raw(client, qb, body + "}")
    assert_refused(response, 400, "_json", before)


def test_a_bare_array_of_100000_brackets_is_a_400(client, qb):
    before = counts()
    assert_refused(post_raw(client, qb, "[" * 100_000), 400, "_json", before)


def test_fields_nested_beyond_their_limit_are_a_422(client, qb):
    before = counts()
    deep: dict = {"plate": "29C-123.45"}
    for _ in range(checks.FIELDS_MAX_DEPTH):
        deep = {"a": deep}
    response = client.post("/api/v1/exchanges", json=exchange(fields=deep), headers=qb)
    assert_refused(response, 422, "fields", before)


def test_duplicate_keys_are_refused(client, qb):
    before = counts()
    body = json.dumps(exchange())[:-1] + ', "credibility": 3}'
    response = post_raw(client, qb, body)
    assert_refused(response, 400, "_json", before)
    assert "hai lần" in response.json["errors"]["_json"][0]  # "given twice", in the user's vi


def test_an_oversized_fields_message_is_one_message(client, qb):
    before = counts()
    fields = {"notes": "x" * (checks.FIELDS_MAX_BYTES + 1)}
    response = client.post("/api/v1/exchanges", json=exchange(fields=fields), headers=qb)
    assert_refused(response, 422, "fields", before)
    [message] = response.json["errors"]["fields"]  # one message, not one per character
    assert len(message) > 10


@pytest.mark.parametrize(
    "control",
    ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"],
)
def test_bidirectional_controls_are_refused_in_the_api(client, qb, control):
    before = counts()
    response = client.post(
        "/api/v1/exchanges", json=exchange(subject=f"inv{control}gpj.exe"), headers=qb
    )
    assert_refused(response, 422, "subject", before)


def test_bidirectional_controls_in_fields_are_refused(client, qb):
    before = counts()
    response = client.post(
        "/api/v1/exchanges", json=exchange(fields={"file": "inv\u202egpj.exe"}), headers=qb
    )
    assert_refused(response, 422, "fields", before)


@pytest.mark.parametrize(
    "sent_at", ["0001-01-01T00:00:00+07:00", "0001-01-01T00:00:00Z", "1900-01-01T00:00:00Z"]
)
def test_sent_at_far_in_the_past_is_refused(client, qb, sent_at):
    before = counts()
    response = client.post("/api/v1/exchanges", json=exchange(sent_at=sent_at), headers=qb)
    assert_refused(response, 422, "sent_at", before)


# --- text, dates ---------------------------------------------------------------------------


def test_clean_drops_bidirectional_controls():
    assert clean("inv\u202egpj.exe") == "invgpj.exe"
    assert clean("a\u2066b\u2069c\u202ad") == "abcd"


def test_the_date_rule_has_bounds():
    errors = checks.Errors()
    assert checks.day(errors, "d", date(1, 1, 1), latest=date(2030, 1, 1)) is None
    assert checks.day(errors, "e", date(2031, 1, 1), latest=date(2030, 1, 1)) is None
    assert checks.day(errors, "f", "2020-01-01", latest=date(2030, 1, 1)) is None
    assert set(errors) == {"d", "e", "f"}
    assert checks.day(checks.Errors(), "g", date(2020, 1, 1), latest=date(2030, 1, 1))


def test_the_time_rule_survives_extreme_offsets():
    from datetime import timedelta, timezone

    errors = checks.Errors()
    east = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=7)))
    assert checks.moment(errors, "t", east) is None
    assert checks.moment(errors, "u", datetime(2101, 1, 1, tzinfo=UTC)) is None
    assert set(errors) == {"t", "u"}


@pytest.mark.parametrize(
    ("field", "seized_on"), [("seized_on", "0001-01-01"), ("seized_on", "1899-12-31")]
)
def test_seized_on_far_in_the_past_is_refused(client, qb, field, seized_on):
    before = counts()
    case = {
        "title": "Bắt giữ tại cửa khẩu Cha Lo",
        "seizures": [
            {
                "drug_type": "crystal_meth",
                "quantity": "2.5",
                "unit": "kg",
                "seized_on": seized_on,
            }
        ],
    }
    response = client.post("/api/v1/cases", json=case, headers=qb)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert "seizures" in json.dumps(response.json["errors"])
    assert field in json.dumps(response.json["errors"])
    assert counts() == before


@pytest.mark.parametrize("value", ["9999-12-31", "0001-01-01"])
def test_list_filters_on_extreme_dates_are_refused_not_a_500(client, qb, value):
    for param in ("date_from", "date_to"):
        response = client.get(f"/api/v1/exchanges?{param}={value}", headers=qb)
        assert response.status_code == 422, (param, response.status_code)
        assert param in response.json["errors"]
