"""Case references are unique per owning organisation (issue 12, existence oracles).

- Two organisations may use the same reference; each sees its own case under it.
- "This reference is already used." answers only within the owner's organisation
  (creating and editing), so it tells nothing about another organisation's cases.
- Every lookup by reference (exchange import, searches, pickers) picks the case the
  actor sees, and never confuses two organisations' equal references.
- Migration 0007 keeps every row and link through the table rebuild on SQLite, and
  its downgrade stops, naming them, when references are shared.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, inspect, select, text

from hub import database
from hub.audit import verify
from hub.errors import ValidationFailed
from hub.extensions import db
from hub.models import Case, Exchange, Seizure, Suspect, User, case_agreements, case_organisations
from hub.operations import cases, scope
from hub.operations.actor import Actor
from tests.conftest import make_case, make_exchange

SHARED = "A-1"
EXCHANGE_HEADER = (
    "row,agreement,recipient,kind,subject,body,language,classification,reliability,"
    "credibility,handling,handling_note,sent_at,case,in_reply_to\n"
)


def actor(username: str) -> Actor:
    return Actor.for_user(db.session.scalar(select(User).where(User.username == username)))


@pytest.fixture
def qb(demo_users) -> Actor:
    return actor("qb.officer")


@pytest.fixture
def km(demo_users) -> Actor:
    return actor("km.officer")


def messages(exc: pytest.ExceptionInfo) -> dict:
    return {k: [str(m) for m in v] for k, v in exc.value.errors.items()}


# --- unique per organisation ---------------------------------------------------------


def test_two_organisations_use_one_reference_and_each_sees_its_own(qb, km):
    ours = make_case(qb, "Vụ của Quảng Bình", reference=SHARED)
    theirs = make_case(km, "ຄະດີຂອງຄຳມ່ວນ", reference=SHARED)
    assert ours.id != theirs.id
    for who, case in ((qb, ours), (km, theirs)):
        found = list(scope.cases_by_reference(who, SHARED))
        assert [c.id for c in found] == [case.id]


def test_already_used_answers_only_within_the_organisation(qb, km):
    make_case(km, "ຄະດີຂອງຄຳມ່ວນ", reference=SHARED)
    make_case(qb, "Vụ thứ nhất", reference=SHARED)  # another organisation's: no answer
    with pytest.raises(ValidationFailed) as exc:
        make_case(qb, "Vụ thứ hai", reference=SHARED)
    assert messages(exc) == {"reference": ["This reference is already used."]}
    db.session.rollback()
    assert db.session.scalar(select(func.count()).where(Case.reference == SHARED)) == 2


def test_editing_to_a_reference_only_another_organisation_uses_succeeds(qb, km):
    make_case(km, "ຄະດີຂອງຄຳມ່ວນ", reference=SHARED)
    first = make_case(qb, "Vụ thứ nhất", reference="QB-1")
    second = make_case(qb, "Vụ thứ hai", reference="QB-2")
    edited = cases.update_case(qb, first.id, cases.CaseInput(title=first.title, reference=SHARED))
    assert edited.reference == SHARED
    with pytest.raises(ValidationFailed) as exc:
        cases.update_case(qb, second.id, cases.CaseInput(title=second.title, reference=SHARED))
    assert messages(exc) == {"reference": ["This reference is already used."]}


def test_the_database_refuses_a_second_case_of_one_owner_under_one_reference(qb, km):
    """Even a row written past the operation (the constraint, not only the check)."""
    from sqlalchemy.exc import IntegrityError

    case = make_case(qb, "Vụ thứ nhất", reference=SHARED)
    db.session.add(
        Case(
            reference=SHARED,
            reference_key=SHARED.lower(),
            title="x",
            title_key="x",
            opened_on=case.opened_on,
            owner_organisation_id=case.owner_organisation_id,
        )
    )
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_generated_references_count_within_the_owner(qb, km):
    """The next number skips only the owner's own references under its prefix."""
    from datetime import date

    day = date(2025, 3, 1)
    make_case(km, "ຄະດີ", reference="QB-2025-00001", opened_on=day)  # KM chose QB's form
    mine = make_case(qb, "Vụ sinh số", opened_on=day)
    assert mine.reference == "QB-2025-00001"
    again = make_case(qb, "Vụ sinh số 2", opened_on=day)
    assert again.reference == "QB-2025-00002"


# --- lookups by reference --------------------------------------------------------------


def test_a_visible_case_of_a_partner_with_an_equal_reference_is_not_confused(qb, km):
    """KM's case involves QB: QB sees two cases "A-1". Its own is the one a reference
    names; the partner's stays reachable by its id."""
    ours = make_case(qb, "Vụ của Quảng Bình", reference=SHARED)
    theirs = make_case(km, "ຄະດີຮ່ວມ", reference=SHARED, organisations=["QB"])
    assert [c.id for c in scope.cases_by_reference(qb, SHARED)] == [ours.id]
    assert [c.id for c in scope.cases_by_reference(km, SHARED)] == [theirs.id]
    # Only a partner's: found when it is the only one the actor sees.
    other = make_case(km, "ຄະດີຮ່ວມ 2", reference="KM-ONLY", organisations=["QB"])
    assert [c.id for c in scope.cases_by_reference(qb, "KM-ONLY")] == [other.id]
    # Nobody outside sees either (SV is in neither case).
    assert list(scope.cases_by_reference(actor("sv.officer"), SHARED)) == []


def _import_exchanges(app, tmp_path: Path, username: str, case_ref: str):
    path = tmp_path / "exchanges.csv"
    path.write_text(
        EXCHANGE_HEADER
        + f"1,QB-KM-MOU,{'KM' if username.startswith('qb') else 'QB'},alert,Cảnh báo,x,vi,"
        + f"restricted,B,2,H0,,2025-01-02 09:00,{case_ref},\n",
        encoding="utf-8",
    )
    return app.test_cli_runner().invoke(
        args=["import", "exchanges", str(path), "--user", username, "--language", "en"]
    )


def test_the_exchange_importer_links_the_importers_own_case(app, qb, km, tmp_path):
    ours = make_case(qb, "Vụ của Quảng Bình", reference=SHARED, organisations=["KM"])
    theirs = make_case(km, "ຄະດີຂອງຄຳມ່ວນ", reference=SHARED, organisations=["QB"])
    result = _import_exchanges(app, tmp_path, "qb.officer", SHARED)
    assert result.exit_code == 0, result.stderr
    result = _import_exchanges(app, tmp_path, "km.officer", SHARED)
    assert result.exit_code == 0, result.stderr
    db.session.rollback()
    linked = {
        x.sender.code: x.case_id for x in db.session.scalars(select(Exchange).order_by(Exchange.id))
    }
    assert linked == {"QB": ours.id, "KM": theirs.id}


def test_the_importer_refuses_a_reference_of_several_partner_cases(app, qb, km, tmp_path):
    """QB owns no "A-1" but sees two partners' "A-1": the row names which one it is not."""
    make_case(km, "ຄະດີ 1", reference=SHARED, organisations=["QB"])
    make_case(actor("sv.officer"), "ຄະດີ 2", reference=SHARED, organisations=["QB", "KM"])
    result = _import_exchanges(app, tmp_path, "qb.officer", SHARED)
    assert result.exit_code == 1
    assert ":2: case: Several cases of partner organisations have this reference" in (result.stderr)
    assert db.session.scalar(select(func.count()).select_from(Exchange)) == 0


def test_an_unseen_reference_answers_as_an_unknown_one(app, qb, km, tmp_path):
    make_case(km, "ຄະດີຂອງຄຳມ່ວນ", reference=SHARED)  # QB is not involved
    result = _import_exchanges(app, tmp_path, "qb.officer", SHARED)
    unseen = result.stderr.replace(SHARED, "?")
    result = _import_exchanges(app, tmp_path, "qb.officer", "NEVER-USED")
    assert result.exit_code == 1
    assert unseen == result.stderr.replace("NEVER-USED", "?")
    assert ":2: case: No case has this reference." in unseen


def test_search_and_pickers_name_the_owner_of_an_equal_reference(client, qb, km, api_token):
    ours = make_case(qb, "Vụ của Quảng Bình", reference=SHARED)
    theirs = make_case(km, "ຄະດີຮ່ວມ", reference=SHARED, organisations=["QB"])
    make_case(km, "ຄະດີລັບ", reference=SHARED + "-KM")  # not QB's to see
    listed = client.get("/api/v1/cases?q=a-1", headers=api_token("qb.officer")).get_json()
    assert sorted((c["id"], c["owner"]) for c in listed["items"]) == sorted(
        [(ours.id, "QB"), (theirs.id, "KM")]
    )
    from hub.operations import pickers

    labels = dict(pickers.recent_cases(qb))
    assert labels[str(ours.id)].startswith(f"{SHARED} – ")
    assert labels[str(theirs.id)].startswith(f"KM · {SHARED} – ")


# --- migration 0007 --------------------------------------------------------------------


def _counts() -> dict[str, int]:
    db.session.rollback()
    out = {
        m.__tablename__: db.session.scalar(select(func.count()).select_from(m))
        for m in (Case, Seizure, Suspect, Exchange)
    }
    for table in (case_organisations, case_agreements):
        out[table.name] = db.session.scalar(select(func.count()).select_from(table))
    out["linked"] = db.session.scalar(
        select(func.count()).select_from(Exchange).where(Exchange.case_id.is_not(None))
    )
    db.session.remove()  # every SQLite transaction holds the write lock
    return out


def _migrate(step, revision: str) -> None:
    db.session.remove()
    step(directory=str(database.MIGRATIONS_DIR), revision=revision)
    db.session.remove()


def _index_names() -> set[str]:
    db.session.remove()
    return {i["name"] for i in inspect(db.engine).get_indexes("cases")}


def _unique_sets() -> set[tuple[str, ...]]:
    db.session.remove()
    found = inspect(db.engine)
    sets = {tuple(u["column_names"]) for u in found.get_unique_constraints("cases")}
    sets |= {tuple(i["column_names"]) for i in found.get_indexes("cases") if i["unique"]}
    return sets


def test_migration_0007_keeps_rows_and_links_and_its_downgrade_stops_on_shared(app, qb, km):
    case = make_case(
        qb,
        "Vụ có dữ liệu",
        reference=SHARED,
        organisations=["KM"],
        agreements=["QB-KM-MOU"],
        seizures=[cases.SeizureInput(drug_type="heroin", quantity="1.5", unit="kg")],
        suspects=[cases.SuspectInput(name="Nguyễn Văn An", nationality="VN")],
    )
    make_exchange(qb, case=case.id)
    before = _counts()
    indexes = _index_names()

    _migrate(downgrade, "0006_username_nocase")
    assert ("reference",) in _unique_sets()
    _migrate(upgrade, "head")

    assert _counts() == before
    assert _index_names() >= indexes
    assert ("owner_organisation_id", "reference") in _unique_sets()
    assert ("reference",) not in _unique_sets()
    if db.engine.dialect.name == "sqlite":
        with db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
    again = db.session.get(Case, case.id)
    assert [s.drug_type for s in again.seizures] == ["heroin"]
    views = cases.read_suspects(km, again)
    assert [v.name for v in views] == ["Nguyễn Văn An"]
    db.session.remove()
    assert all(r.ok for r in verify.verify(db.engine))

    make_case(km, "ຄະດີຂອງຄຳມ່ວນ", reference=SHARED)
    db.session.remove()
    config = app.extensions["migrate"].migrate.get_config(str(database.MIGRATIONS_DIR))
    with pytest.raises(RuntimeError, match=f"renamed first: {SHARED}"):
        command.downgrade(config, "0006_username_nocase")  # flask_migrate would exit
    db.session.remove()
    # 0007's step refused and changed nothing: on PostgreSQL the whole downgrade is one
    # transaction (still at head); SQLite commits each step (later ones were undone).
    assert database.current_revision(db.engine) in (
        database.alembic_head(),
        "0007_case_reference_per_org",
    )
    assert ("owner_organisation_id", "reference") in _unique_sets()
    _migrate(upgrade, "head")
    assert _counts()["cases"] == before["cases"] + 1


def test_exchange_pages_name_the_owner_of_a_partners_case(client, browser, make_user, qb, km):
    """QB sees its own "A-1" and KM's "A-1" (KM involves QB): an exchange linked to KM's
    shows it as "KM · A-1" on QB's pages, and as plain "A-1" on KM's."""
    make_case(qb, "Vụ của Quảng Bình", reference=SHARED)
    theirs = make_case(km, "ຄະດີຮ່ວມ", reference=SHARED, organisations=["QB"])
    sent = make_exchange(km, recipient="QB", case=theirs.id, kind="alert")
    make_user("qb.reader", org="QB", role="officer", language="en")
    assert browser.login("qb.reader").status_code == 302
    for path in ("/exchanges/", f"/exchanges/{sent.id}"):
        page = client.get(path).get_data(as_text=True)
        assert f"KM · {SHARED}" in page, path
    from hub.operations import pickers

    assert pickers.case_reference(km, theirs) == SHARED


def test_the_api_answers_already_used_only_within_the_organisation(client, api_token, qb, km):
    make_case(km, "ຄະດີຂອງຄຳມ່ວນ", reference=SHARED)
    headers = api_token("qb.officer")
    first = client.post(
        "/api/v1/cases", json={"title": "Vụ 1", "reference": SHARED}, headers=headers
    )
    assert first.status_code == 201, first.get_json()
    second = client.post(
        "/api/v1/cases", json={"title": "Vụ 2", "reference": SHARED}, headers=headers
    )
    assert second.status_code == 422
    assert list(second.get_json()["errors"]) == ["reference"]
