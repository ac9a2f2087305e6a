"""GET /api/v1/agreements/<code>/compliance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import compliance_row as _add

URL = "/api/v1/agreements/QB-KM-MOU/compliance"
DAY = timedelta(days=1)


def test_evaluation_as_json(client, demo_users, api_token):
    t0 = datetime(2024, 1, 10, 3, 0, tzinfo=UTC)
    late = None
    for days in (2, 7, 9):
        late = _add("request", t0, answered_at=t0 + days * DAY)
    got = client.get(
        URL,
        query_string={"from": "2024-01-01", "to": "2024-03-31"},
        headers=api_token("km.officer"),
    )
    assert got.status_code == 200
    body = got.get_json()
    assert body["agreement"] == "QB-KM-MOU"
    assert (body["from"], body["to"]) == ("2024-01-01", "2024-03-31")
    kinds = [o["kind"] for o in body["obligations"]]
    assert kinds == ["response_time", "acknowledge_time", "meeting_interval", "periodic_report"]
    response = body["obligations"][0]
    assert response["state"] == "breached"
    assert response["figures"]["on_time"] == 2
    assert response["figures"]["answered"] == 3
    assert response["evidence"] == [late.id]
    assert {"log", "size", "status", "checkpoint"} <= set(body["audit"])
    assert body["exchanges"]["total"] == 3


def test_empty_agreement_is_an_honest_report(client, demo_users, api_token):
    got = client.get(
        URL,
        query_string={"from": "2023-01-01", "to": "2023-12-31"},
        headers=api_token("qb.supervisor"),
    )
    assert got.status_code == 200
    body = got.get_json()
    assert body["exchanges"] == {"total": 0, "monthly": []}
    assert body["obligations"][0]["state"] == "met"
    assert body["obligations"][0]["figures"]["on_time_rate"] is None


def test_bad_input_and_non_parties(client, demo_users, api_token):
    sv = api_token("sv.supervisor")
    assert client.get(URL, headers=sv).status_code == 404
    assert client.get(URL, query_string={"from": "nonsense"}, headers=sv).status_code == 404
    km = api_token("km.supervisor")
    backwards = client.get(URL, query_string={"from": "2024-03-01", "to": "2024-02-01"}, headers=km)
    assert backwards.status_code == 422
    assert "to" in backwards.get_json()["errors"]
    malformed = client.get(URL, query_string={"from": "2024-02-30"}, headers=km)
    assert malformed.status_code == 422
    assert "from" in malformed.get_json()["errors"]
    stranger = client.get(URL, query_string={"partner": "SV"}, headers=km)
    assert stranger.status_code == 422
    assert "partner" in stranger.get_json()["errors"]
    far = client.get(URL, query_string={"from": "0001-01-01", "to": "9999-12-31"}, headers=km)
    assert far.status_code == 422
    assert client.get(URL).status_code == 401
