"""Files handed out (hub/downloads.py): one rule on the pages and in the API — saved, never
rendered or cached, with the content type sent exactly once."""

from __future__ import annotations

import io
import re

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _request_with_attachment(client, headers) -> tuple[int, int]:
    sent = client.post(
        "/api/v1/exchanges",
        json={
            "agreement": "QB-KM-MOU",
            "recipient": "KM",
            "kind": "request",
            "subject": "Biên bản",
            "body": "Nội dung",
            "classification": "confidential",
            "reliability": "B",
            "credibility": 2,
            "handling": "H0",
        },
        headers=headers,
    )
    assert sent.status_code == 201, sent.json
    attached = client.post(
        f"/api/v1/exchanges/{sent.json['id']}/attachments",
        data={"file": (io.BytesIO(PDF), "bien-ban.pdf")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert attached.status_code == 201, attached.json
    return sent.json["id"], attached.json["id"]


def _saved_never_kept(response) -> None:
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"].startswith("attachment")


def test_attachment_download_is_no_store_in_the_api_and_on_the_page(
    client, browser, demo_users, api_token
):
    exchange_id, attachment_id = _request_with_attachment(client, api_token("qb.officer"))
    path = f"/exchanges/{exchange_id}/attachments/{attachment_id}"

    api = client.get(f"/api/v1{path}", headers=api_token("km.officer"))
    _saved_never_kept(api)
    assert api.data == PDF
    assert api.headers["Content-Type"] == "application/pdf"

    browser.login("km.officer")
    page = client.get(path)
    _saved_never_kept(page)
    assert page.data == PDF
    assert page.headers["Content-Type"] == api.headers["Content-Type"]
    assert page.headers["Content-Disposition"] == api.headers["Content-Disposition"]


def test_compliance_csv_names_its_charset_once(client, browser, demo_users):
    browser.login("km.supervisor")
    response = client.get(
        "/agreements/QB-KM-MOU/compliance.csv",
        query_string={"from": "2024-01-01", "to": "2024-03-31"},
    )
    _saved_never_kept(response)
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert len(re.findall("charset", response.headers["Content-Type"])) == 1
