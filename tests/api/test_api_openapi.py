"""The OpenAPI document: generated from the schemas, served, and committed up to date."""

from __future__ import annotations

import json

from hub.api.openapi import render
from hub.config import PROJECT_ROOT

COMMITTED = PROJECT_ROOT / "schemas" / "openapi.json"


def test_committed_document_is_current(app):
    assert COMMITTED.read_text(encoding="utf-8") == render(), (
        "schemas/openapi.json is stale: run `hub openapi -o schemas/openapi.json`"
    )


def test_document_is_served_and_describes_the_core_shape(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json
    assert document == json.loads(render())
    create = document["components"]["schemas"]["ExchangeCreate"]
    assert set(create["required"]) == {
        "agreement",
        "recipient",
        "kind",
        "subject",
        "body",
        "classification",
        "reliability",
        "credibility",
        "handling",
    }
    assert create["additionalProperties"] is False
    assert {"sent_at", "case", "in_reply_to", "handling_note"} <= set(create["properties"])
    shown = document["components"]["schemas"]["Exchange"]["properties"]
    assert {
        "id",
        "agreement",
        "sender",
        "recipient",
        "kind",
        "subject",
        "status",
        "sent_at",
        "due_at",
        "acknowledged_at",
        "answered_at",
        "overdue",
        "body",
    } <= set(shown)
    paths = document["paths"]
    assert {"get", "post"} <= set(paths["/exchanges"])
    assert "post" in paths["/exchanges/{exchange_id}/acknowledge"]
    assert "post" in paths["/cases/{case_id}/status"]


def test_stale_check_can_fail(app, tmp_path):
    changed = json.loads(render())
    changed["info"]["version"] = "0.0.0"
    assert json.dumps(changed, indent=2, ensure_ascii=False, sort_keys=True) + "\n" != render()
