"""The audit API, checked from the outside: a partner with only HTTP and the RFC."""

from __future__ import annotations

import base64

import pytest

from hub.audit import note
from hub.extensions import db
from hub.operations import audit
from hub.operations.actor import SYSTEM
from tests.support.audit_support import (
    make_hub_key,
    rfc_leaf,
    rfc_verify_consistency,
    rfc_verify_inclusion,
)

LOG = "QB-KM-MOU"
BASE = f"/api/v1/agreements/{LOG}/audit"


def _append(n: int, name: str = LOG) -> None:
    for i in range(n):
        audit.record(
            "exchange_acknowledged",
            actor=SYSTEM,
            target_type="exchange",
            target_id=i,
            logs=[name],
            details={"n": i},
        )
        db.session.commit()


@pytest.fixture
def km(app, make_user, api_token):
    make_user("km.officer", org="KM", role="officer")
    return api_token("km.officer")


def _checkpoint(client, headers) -> note.Checkpoint:
    vkey = client.get("/api/v1/keys/checkpoint").get_json()["vkey"]  # no login needed
    answer = client.get(f"{BASE}/checkpoint", headers=headers)
    assert answer.status_code == 200
    assert answer.mimetype == "text/plain"
    return note.verify_checkpoint(answer.get_data(), vkey, origin=f"blo-hub/audit/{LOG}")


def test_a_partner_checks_an_entry_against_a_checkpoint(app, client, km):
    make_hub_key(app)
    _append(12)
    cp = _checkpoint(client, km)
    for index in (0, 5, cp.size - 1):
        [entry] = client.get(f"{BASE}/entries?start={index}&end={index}", headers=km).get_json()[
            "entries"
        ]
        leaf = base64.b64decode(entry["leaf_input"])
        assert entry["index"] == index
        assert entry["action"] in leaf.decode()
        proof = client.get(
            f"{BASE}/proof/inclusion?index={index}&size={cp.size}", headers=km
        ).get_json()
        assert (proof["leaf_index"], proof["tree_size"]) == (index, cp.size)
        path = [base64.b64decode(p) for p in proof["audit_path"]]
        assert rfc_verify_inclusion(index, cp.size, rfc_leaf(leaf), path, cp.root)
        assert base64.b64decode(proof["leaf_hash"]) == rfc_leaf(leaf)


def test_a_kept_checkpoint_is_extended_by_later_history(app, client, km):
    make_hub_key(app)
    _append(5)
    kept = _checkpoint(client, km)
    _append(9)
    later = _checkpoint(client, km)
    assert later.size == kept.size + 9
    proof = client.get(
        f"{BASE}/proof/consistency?from={kept.size}&to={later.size}", headers=km
    ).get_json()
    assert (proof["first"], proof["second"]) == (kept.size, later.size)
    hashes = [base64.b64decode(p) for p in proof["consistency"]]
    assert rfc_verify_consistency(kept.size, later.size, hashes, kept.root, later.root)
    # A different "old" root (a rewritten history) does not pass.
    assert not rfc_verify_consistency(kept.size, later.size, hashes, later.root, later.root)


def test_entries_are_paged_in_rfc6962_shape(app, client, km):
    _append(3)
    answer = client.get(f"{BASE}/entries?start=0", headers=km).get_json()
    entries = answer["entries"]
    assert [e["index"] for e in entries] == list(range(len(entries)))
    assert set(entries[0]) == {
        "leaf_input",
        "index",
        "time",
        "actor",
        "organisation",
        "action",
        "target_type",
        "target_id",
        "details",
    }


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("proof/inclusion?index=999&size=2", "index"),
        ("proof/inclusion?index=0&size=999", "size"),
        ("proof/inclusion?size=2", "index"),
        ("proof/inclusion?index=-1", "index"),
        ("proof/inclusion?index=abc", "index"),
        ("proof/inclusion?index=0&size=0", "size"),
        ("proof/consistency?from=0&to=2", "from"),
        ("proof/consistency?from=3&to=2", "from"),
        ("proof/consistency?from=1&to=999", "to"),
        ("proof/consistency?from=99999999999999999999", "from"),
        ("entries?start=999", "start"),
        ("entries?start=2&end=1", "end"),
    ],
)
def test_out_of_range_requests_get_400_naming_the_field(app, client, km, query, field):
    _append(3)
    answer = client.get(f"{BASE}/{query}", headers=km)
    assert answer.status_code == 400, answer.get_data(as_text=True)
    body = answer.get_json()
    assert list(body["errors"]) == [field]
    assert body["code"] == "out_of_range"


def test_only_parties_see_an_agreement_log_and_admins_the_hub_log(
    app, client, make_user, api_token
):
    make_user("sv.officer", org="SV")
    make_user("qb.supervisor", org="QB", role="supervisor")
    make_user("admin", org="QB", role="admin")
    sv, qb, admin = api_token("sv.officer"), api_token("qb.supervisor"), api_token("admin")
    url = f"{BASE}/entries?start=0"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=sv).status_code == 404  # not a party to QB-KM-MOU
    assert client.get(url, headers=qb).status_code == 200
    assert client.get(url, headers=admin).status_code == 404
    hub_url = "/api/v1/agreements/hub/audit/entries?start=0"
    assert client.get(hub_url, headers=admin).status_code == 200
    assert client.get(hub_url, headers=qb).status_code == 404
    assert client.get("/api/v1/agreements/NOPE/audit/checkpoint", headers=qb).status_code == 404


def test_an_unusable_hub_key_answers_503_not_500(app, client, km):
    assert client.get("/api/v1/keys/checkpoint").status_code == 503  # no key published yet
    make_hub_key(app, passphrase="not the hub's passphrase")
    answer = client.get(f"{BASE}/checkpoint", headers=km)
    assert answer.status_code == 503
    assert answer.get_json()["code"] == "checkpoint_unavailable"


@pytest.mark.parametrize("path", ["checkpoint", "entries?start=0", "proof/inclusion?index=0"])
def test_a_log_name_with_a_nul_is_refused_not_500(app, client, km, path):
    # PostgreSQL refuses NUL in a query parameter; found by schemathesis-style probing.
    # The request is refused at the door (hub.security), before any lookup.
    answer = client.get(f"/api/v1/agreements/QB%00/audit/{path}", headers=km)
    assert answer.status_code == 400
    assert answer.get_json()["errors"]


def test_a_log_name_with_a_nul_is_not_found_by_the_operation(app):
    # The CLI reaches get_log without the web door; it must answer NotFound, not a DB error.
    from hub.errors import NotFound
    from hub.operations import audit as audit_ops
    from hub.operations.actor import SYSTEM

    with pytest.raises(NotFound):
        audit_ops.get_log(SYSTEM, "QB\x00")
