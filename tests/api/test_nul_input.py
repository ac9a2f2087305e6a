"""NUL characters are refused at the door: PostgreSQL text cannot hold them."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/agreements/QB%00",
        "/api/v1/agreements/QB%00/compliance",
        "/api/v1/agreements/QB-KM-MOU/audit/entries?start=0%00",
        "/exchanges/?q=a%00b",
    ],
)
def test_nul_in_path_or_query_is_a_400_not_a_500(client, demo_users, api_token, path):
    response = client.get(path, headers=api_token("qb.officer"))
    assert response.status_code == 400
    if path.startswith("/api/"):
        assert "errors" in response.get_json()


def test_nul_in_a_login_form_is_refused(client, browser):
    token = browser.csrf()
    response = client.post(
        "/login", data={"username": "qb\x00officer", "password": "x", "csrf_token": token}
    )
    assert response.status_code == 400
