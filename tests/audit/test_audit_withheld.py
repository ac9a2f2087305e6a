"""Case entries a log's reader may not see are withheld on every face (issue 12, item 6).

Cases opened under no agreement used to write their entries (reference, seizures,
suspects recorded, who opened which suspect) to the hub-wide log, which
administrators read; new ones go to the organisations' own logs. The old entries
stay (the hash chain), so they are written here the way the old code wrote them
and read back through every face: the log page (its filters and their choices), the
API's entries, its proofs. Each shows their position, action, record type and hash,
never who, when, which case or the details; verification still covers them. The same
rule holds in an agreement's log for a party that does not see the case.
"""

from __future__ import annotations

import base64
import re

import pytest
from sqlalchemy import select

from hub.audit import merkle, verify
from hub.extensions import db
from hub.models import AuditEntry, AuditLog, User
from hub.models.audit import HUB_LOG
from hub.operations import audit, cases
from hub.operations.actor import Actor
from tests.conftest import make_case

REFERENCE = "QB-CU-2024-77"
SECRET_DETAIL = "0440-8500-9999"  # stands for what a detail may say of a suspect


def actor(username: str) -> Actor:
    return Actor.for_user(db.session.scalar(select(User).where(User.username == username)))


def write_the_old_way(who: Actor, case_id: int, suspect_id: int, log: str) -> list[int]:
    """The entries `cases` wrote for a case under no agreement before it had logs of its
    own: straight into `log` (the hub-wide one, ``logs=()``), details and all."""
    logs = () if log == HUB_LOG else (log,)
    for action, target_type, target_id, details in (
        ("case_opened", "case", case_id, {"reference": REFERENCE, "organisations": ["QB"]}),
        ("seizure_recorded", "case", case_id, {"drug_type": "heroin", "quantity": "2.5"}),
        ("suspect_recorded", "case", case_id, {"suspect": suspect_id, "note": SECRET_DETAIL}),
        ("payload_opened", "suspect", suspect_id, {"payload": 1, "sha256": "ab" * 32}),
    ):
        audit.record(
            action,
            actor=who,
            target_type=target_type,
            target_id=target_id,
            logs=logs,
            details=details,
        )
    db.session.commit()
    head = db.session.scalar(select(AuditLog).where(AuditLog.name == log))
    return list(range(head.size - 4, head.size))


@pytest.fixture
def old_entries(demo_users) -> dict:
    qb = actor("qb.officer")
    case = make_case(
        qb, "Vụ cũ", reference=REFERENCE, suspects=[cases.SuspectInput(name="Trần Văn Bình")]
    )
    suspect_id = case.suspects[0].id
    indexes = write_the_old_way(qb, case.id, suspect_id, HUB_LOG)
    return {"case": case.id, "suspect": suspect_id, "indexes": indexes}


def leaked(text: str, old: dict) -> list[str]:
    found = [s for s in (REFERENCE, SECRET_DETAIL, "qb.officer", "heroin") if s in text]
    found += [f"case {old['case']}"] if re.search(rf"\bCase {old['case']}\b", text) else []
    return found


def test_the_hub_log_page_withholds_old_case_entries_from_an_administrator(
    app, browser, make_user, old_entries
):
    make_user("adm", org="QB", role="admin", language="en")  # of the case's organisation
    assert browser.login("adm").status_code == 302
    page = browser.client.get("/audit/hub").get_data(as_text=True)
    assert leaked(page, old_entries) == []
    assert page.count("Withheld: case data") == 4
    assert "Suspect recorded" in page
    assert "Sealed content opened" in page
    stored = db.session.scalars(
        select(AuditEntry)
        .join(AuditLog)
        .where(AuditLog.name == HUB_LOG, AuditEntry.index.in_(old_entries["indexes"]))
    )
    for row in stored:  # each by its position and hash
        assert merkle.leaf_hash(bytes(row.leaf_input)).hex() in page
    db.session.rollback()
    # Filters: by action it is found (the type is visible), by who never.
    by_action = browser.client.get("/audit/hub?action=suspect_recorded").get_data(as_text=True)
    assert "1 matching entry" in by_action
    by_org = browser.client.get("/audit/hub?organisation=QB").get_data(as_text=True)
    assert "Signed in" in by_org  # the administrator's own sign-in (a QB account)
    assert "Withheld: case data" not in by_org
    assert leaked(by_org, old_entries) == []


def test_the_api_serves_only_their_hash_and_type_and_the_tree_still_checks(
    app, client, api_token, old_entries
):
    admin = api_token("admin")
    answer = client.get(f"/api/v1/agreements/{HUB_LOG}/audit/entries?start=0", headers=admin)
    assert answer.status_code == 200
    assert leaked(answer.get_data(as_text=True), old_entries) == []
    items = {e["index"]: e for e in answer.get_json()["entries"]}
    rows = {
        r.index: bytes(r.leaf_input)
        for r in db.session.scalars(
            select(AuditEntry).join(AuditLog).where(AuditLog.name == HUB_LOG)
        )
    }
    db.session.rollback()
    for index in old_entries["indexes"]:
        item = items[index]
        assert set(item) == {"index", "leaf_hash", "withheld", "action", "target_type"}
        assert base64.b64decode(item["leaf_hash"]) == merkle.leaf_hash(rows[index])
    # Every other entry comes whole; from all of them the tree's root is recomputed.
    hashes = [
        base64.b64decode(e["leaf_hash"])
        if e.get("withheld")
        else merkle.leaf_hash(base64.b64decode(e["leaf_input"]))
        for _, e in sorted(items.items())
    ]
    head = db.session.scalar(select(AuditLog).where(AuditLog.name == HUB_LOG))
    assert merkle.root(hashes) == bytes(head.root)
    db.session.rollback()
    proof = client.get(
        f"/api/v1/agreements/{HUB_LOG}/audit/proof/inclusion?index={old_entries['indexes'][2]}",
        headers=admin,
    )
    assert proof.status_code == 200
    assert all(r.ok for r in verify.verify(db.engine, deep=True))


def test_an_operations_caller_gets_them_withheld_too(app, old_entries):
    """The rule is in the operations, not the faces: the hub itself (the operator's
    command line) reads the hub log through it and sees no case data either."""
    from hub.operations.actor import SYSTEM

    _, rows, total = audit.filtered_entries(SYSTEM, HUB_LOG, per_page=1000)
    withheld = sorted(r.index for r in rows if r.withheld)
    assert withheld == old_entries["indexes"]
    assert all(r.leaf_input is None for r in rows if r.withheld)
    _, by_org, total = audit.filtered_entries(SYSTEM, HUB_LOG, organisation="QB")
    assert (by_org, total) == ([], 0)


def test_in_an_agreement_log_a_party_not_involved_gets_them_withheld(
    app, browser, make_user, old_entries
):
    """A QB-only case's old entries in the QB-KM log: QB's supervisor reads them, KM's
    is shown their place and type only."""
    qb = actor("qb.officer")
    indexes = write_the_old_way(qb, old_entries["case"], old_entries["suspect"], "QB-KM-MOU")
    make_user("qb.sup", org="QB", role="supervisor", language="en")
    make_user("km.sup", org="KM", role="supervisor", language="en")
    assert browser.login("qb.sup").status_code == 302
    own = browser.client.get("/audit/QB-KM-MOU").get_data(as_text=True)
    assert REFERENCE in own
    assert "Withheld: case data" not in own
    browser.client.post("/logout", data={"csrf_token": browser.csrf("/")})
    assert browser.login("km.sup").status_code == 302
    other = browser.client.get("/audit/QB-KM-MOU").get_data(as_text=True)
    assert leaked(other, old_entries) == []
    assert other.count("Withheld: case data") == len(indexes)
