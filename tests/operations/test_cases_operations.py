"""Cases: status transitions, strict quantities, sealed suspects found by blind index, search."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select

from hub.errors import Conflict, Forbidden, ValidationFailed
from hub.extensions import db
from hub.models import Case, SealedPayload, Seizure, Suspect
from hub.operations import cases, listing
from hub.operations.actor import Actor
from hub.operations.cases import CaseInput, SeizureInput, SuspectInput
from tests.conftest import make_case, make_exchange


@pytest.fixture
def actors(app, demo_users):
    with app.test_request_context():
        yield {name: Actor.for_user(user) for name, user in demo_users.items()}


PATH = ["investigating", "referred", "prosecuted", "closed"]


def test_status_path_and_extras(actors):
    qb = actors["qb.officer"]
    case = make_case(qb)
    for status in PATH:
        case = cases.change_status(qb, case.id, status)
    assert case.closed_on is not None
    case = cases.change_status(qb, case.id, "investigating")  # re-opened
    assert case.closed_on is None
    case = cases.change_status(qb, case.id, "joint_operation")
    with pytest.raises(Conflict):
        cases.change_status(qb, case.id, "joint_operation")


@pytest.mark.parametrize(
    ("start", "target"),
    [
        ([], "referred"),
        ([], "prosecuted"),
        (["investigating"], "prosecuted"),
        (["investigating", "referred", "prosecuted"], "investigating"),
        (["closed"], "referred"),
    ],
)
def test_illegal_transitions_refused(actors, start, target):
    qb = actors["qb.officer"]
    case = make_case(qb)
    for status in start:
        cases.change_status(qb, case.id, status)
    with pytest.raises(ValidationFailed) as refused:
        cases.change_status(qb, case.id, target)
    assert list(refused.value.errors) == ["status"]


def test_only_owner_changes_status_involved_may_add_seizures(actors):
    qb, km = actors["qb.officer"], actors["km.officer"]
    case = make_case(qb, organisations=["KM"])
    with pytest.raises(Forbidden):
        cases.change_status(km, case.id, "investigating")
    seizure = cases.add_seizure(
        km, case.id, SeizureInput(drug_type="opium", quantity="1,5", unit="kg", locale="lo")
    )
    assert seizure.quantity == Decimal("1.5")


@pytest.mark.parametrize(
    ("typed", "locale", "value"),
    [
        ("2,5", "vi", Decimal("2.5")),
        ("1.234,5", "vi", Decimal("1234.5")),
        ("2,5", "lo", Decimal("2.5")),
        ("2.5", "en", Decimal("2.5")),
        ("໒,໕", "lo", Decimal("2.5")),
    ],
)
def test_quantities_parse_strictly_in_the_locale(actors, typed, locale, value):
    case = make_case(actors["qb.officer"])
    row = cases.add_seizure(
        actors["qb.officer"],
        case.id,
        SeizureInput(drug_type="heroin", quantity=typed, unit="kg", locale=locale),
    )
    assert row.quantity == value


@pytest.mark.parametrize(
    ("typed", "locale", "unit"),
    [
        ("2.5", "vi", "kg"),
        ("2.5", "lo", "kg"),
        ("abc", "vi", "kg"),
        ("0", "vi", "kg"),
        ("1,5", "vi", "tablets"),
        ("1,0001", "vi", "kg"),
    ],
)
def test_bad_quantities_refused(actors, typed, locale, unit):
    qb = actors["qb.officer"]
    case = make_case(qb)
    before = db.session.scalar(select(func.count()).select_from(Seizure))
    with pytest.raises(ValidationFailed) as refused:
        cases.add_seizure(
            qb, case.id, SeizureInput(drug_type="heroin", quantity=typed, unit=unit, locale=locale)
        )
    assert "quantity" in refused.value.errors
    assert db.session.scalar(select(func.count()).select_from(Seizure)) == before


def test_suspects_are_sealed_and_found_by_blind_index(actors):
    qb, km, sv = actors["qb.officer"], actors["km.officer"], actors["sv.officer"]
    case = cases.create_case(
        qb,
        CaseInput(title="Vụ có đối tượng", organisations=["KM"]),
        suspects=[
            SuspectInput(
                name="Nguyễn Văn Đức",
                date_of_birth=date(1990, 5, 1),
                nationality="VN",
                identity_document="044 099-001234",
            )
        ],
    )
    suspect = db.session.scalar(select(Suspect).where(Suspect.case_id == case.id))
    payload = db.session.get(SealedPayload, suspect.payload_id)
    assert "Đức".encode() not in payload.ciphertext
    assert b"001234" not in payload.ciphertext
    assert suspect.name_index
    assert "Nguy" not in suspect.name_index
    opened = cases.read_suspects(km, cases.load_for_view(km, case.id))
    assert opened[0].name == "Nguyễn Văn Đức"
    assert opened[0].date_of_birth == "1990-05-01"

    def found(actor, **query):
        page = listing.list_cases(actor, listing.CaseFilters(**query))
        return [c.id for c in page.items]

    assert found(qb, suspect_name="nguyen van duc") == [case.id]
    assert found(km, suspect_document="044099001234") == [case.id]
    assert found(qb, suspect_document="044099001235") == []
    assert found(sv, suspect_name="Nguyễn Văn Đức") == []


@pytest.mark.parametrize(
    "query",
    ["Quang Binh", "quảng bình", "QUẢNG BÌNH", "Qua\u0309ng Bi\u0300nh", "dak"],
)
def test_search_is_accent_insensitive(actors, query):
    qb = actors["qb.officer"]
    wanted = make_case(qb, title="Vận chuyển ma túy Quảng Bình Đắk")
    make_case(qb, title="Vụ khác")
    page = listing.list_cases(qb, listing.CaseFilters(q=query))
    assert [c.id for c in page.items] == [wanted.id]


def test_lao_am_spellings_find_each_other(actors):
    km = actors["km.officer"]
    composed = make_case(km, title="ຄຳມ່ວນ")
    decomposed_query = "\u0e84\u0ecd\u0eb2"  # ຄ + ໍ + າ
    page = listing.list_cases(km, listing.CaseFilters(q=decomposed_query))
    assert [c.id for c in page.items] == [composed.id]
    sent = make_exchange(
        km,
        recipient="QB",
        kind="alert",
        subject="ແຂວງ\u0e84\u0ecd\u0eb2ມ່ວນ",
        body="x",
        reliability="C",
        credibility=3,
    )
    page = listing.list_exchanges(km, listing.ExchangeFilters(q="ຄຳມ່ວນ"))
    assert [e.id for e in page.items] == [sent.id]


def test_exchange_search_by_case_reference(actors):
    qb = actors["qb.officer"]
    case = make_case(qb, reference="QB-2025-ĐL-7", organisations=["KM"])
    sent = make_exchange(
        qb, subject="Không liên quan", body="x", reliability="C", credibility=3, case=case.id
    )
    page = listing.list_exchanges(qb, listing.ExchangeFilters(q="qb-2025-dl"))
    assert [e.id for e in page.items] == [sent.id]


def test_reference_generated_and_unique(actors):
    qb = actors["qb.officer"]
    first, second = make_case(qb), make_case(qb)
    assert first.reference != second.reference
    assert first.reference.startswith("QB-")
    with pytest.raises(ValidationFailed) as refused:
        make_case(qb, reference=first.reference)
    assert "reference" in refused.value.errors
    assert db.session.scalar(select(func.count()).select_from(Case)) == 2


def test_lists_page_by_number_and_cursor_without_n_plus_one(actors):
    qb = actors["qb.officer"]
    for index in range(7):
        make_exchange(
            qb,
            agreement="QB-KM-MOU" if index % 2 else "QB-SV-MOU",
            recipient="KM" if index % 2 else "SV",
            kind="alert",
            subject=f"Tin {index}",
            body="x",
            reliability="C",
            credibility=3,
        )
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        first = listing.list_exchanges(qb, per_page=3)
        rows = [
            (e.sender.name_on().short("vi"), e.recipient.code, e.agreement.code)
            for e in first.items
        ]
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert len(rows) == 3
    assert len(statements) <= 8, statements  # fixed, whatever the page size
    assert first.has_next
    second = listing.list_exchanges(qb, per_page=3, cursor=first.next_cursor)
    third = listing.list_exchanges(qb, per_page=3, page=3)
    by_number = listing.list_exchanges(qb, per_page=3, page=2)
    assert [e.id for e in second.items] == [e.id for e in by_number.items]
    assert len(third.items) == 1
    assert not third.has_next
    sent_dates = [e.sent_at for e in first.items + second.items + third.items]
    assert sent_dates == sorted(sent_dates, reverse=True)
    only_km = listing.list_exchanges(qb, listing.ExchangeFilters(partner="KM"))
    assert {e.recipient.code for e in only_km.items} == {"KM"}
    assert len(only_km.items) == 3


def test_filters_that_cannot_match_answer_empty_or_overdue_lists(actors):
    from datetime import UTC, datetime, timedelta

    qb, sv = actors["qb.officer"], actors["sv.officer"]
    late = make_exchange(
        qb,
        agreement="QB-SV-MOU",
        recipient="SV",
        subject="Trễ hạn",
        body="x",
        reliability="C",
        credibility=3,
        sent_at=datetime.now(UTC) - timedelta(days=9),
    )
    # An agreement SV is not party to answers as an unknown one (no existence oracle).
    with pytest.raises(ValidationFailed) as caught:
        listing.list_exchanges(sv, listing.ExchangeFilters(agreement="QB-KM-MOU"))
    assert list(caught.value.errors) == ["agreement"]
    page = listing.list_exchanges(sv, listing.ExchangeFilters(overdue=True))
    assert [e.id for e in page.items] == [late.id]
    page = listing.list_exchanges(qb, listing.ExchangeFilters(overdue=True, direction="in"))
    assert page.items == []
