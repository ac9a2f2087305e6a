"""Case lists filtered by agreement or partner: the same rows, in the same order, whichever
way the list is read (a walk of the newest cases, or from the link tables when the
filter matches few of them), across pages and cursors."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from hub.errors import ValidationFailed
from hub.operations import cases, listing
from hub.operations.actor import Actor
from hub.operations.cases import CaseInput
from tests.conftest import make_exchange


@pytest.fixture
def actors(app, demo_users):
    with app.test_request_context():
        yield {name: Actor.for_user(user) for name, user in demo_users.items()}


@pytest.fixture
def opened(actors):
    """20 recent QB cases with KM under QB-KM-MOU; 3 older ones with SV under QB-SV-MOU
    (the oldest also involving KM); 2 KM cases with QB."""
    qb, km = actors["qb.officer"], actors["km.officer"]
    start = date(2024, 1, 1)
    made = {}
    for i in range(3):
        made[f"sv{i}"] = cases.create_case(
            qb,
            CaseInput(
                title=f"Vụ SV {i}",
                opened_on=start + timedelta(days=i),
                organisations=["SV", "KM"] if i == 0 else ["SV"],
                agreements=["QB-SV-MOU"],
            ),
        ).id
    for i in range(20):
        made[f"km{i}"] = cases.create_case(
            qb,
            CaseInput(
                title=f"Vụ KM {i}",
                opened_on=start + timedelta(days=10 + i),
                organisations=["KM"],
                agreements=["QB-KM-MOU"],
            ),
        ).id
    for i in range(2):
        made[f"own{i}"] = cases.create_case(
            km,
            CaseInput(
                title=f"ກໍລະນີ {i}",
                opened_on=start + timedelta(days=5 + i),
                organisations=["QB"],
                agreements=["QB-KM-MOU"],
            ),
        ).id
    return made


def _expected(actor: Actor, *, agreement: str | None = None, partner: str | None = None):
    """Every visible case, filtered here in Python, newest first."""
    rows = listing.list_cases(actor, per_page=listing.MAX_PER_PAGE).items
    chosen = []
    for case in rows:
        if agreement and agreement not in {a.code for a in case.agreements}:
            continue
        codes = {o.code for o in case.organisations} | {case.owner.code}
        if partner and partner not in codes:
            continue
        chosen.append(case.id)
    return chosen


def _by_cursor(actor: Actor, per_page: int, **filters) -> list[int]:
    seen, cursor = [], None
    while True:
        page = listing.list_cases(
            actor, listing.CaseFilters(**filters), per_page=per_page, cursor=cursor
        )
        seen += [c.id for c in page.items]
        if not page.has_next:
            return seen
        cursor = page.next_cursor


def _by_number(actor: Actor, per_page: int, **filters) -> list[int]:
    seen, number = [], 1
    while True:
        page = listing.list_cases(
            actor, listing.CaseFilters(**filters), page=number, per_page=per_page
        )
        seen += [c.id for c in page.items]
        if not page.has_next:
            return seen
        number += 1


CASES = [
    # (user, filters, what is expected): few matches far from the newest, and many.
    ("qb.officer", {"partner": "SV"}, ["sv2", "sv1", "sv0"]),
    ("qb.officer", {"agreement": "QB-SV-MOU"}, ["sv2", "sv1", "sv0"]),
    ("km.officer", {"agreement": "QB-SV-MOU"}, ["sv0"]),  # not party, yet linked to a case
    ("sv.officer", {"partner": "KM"}, ["sv0"]),
    ("sv.officer", {"agreement": "QB-KM-MOU"}, []),
    ("km.officer", {"partner": "SV"}, ["sv0"]),
    ("qb.officer", {"partner": "KM", "agreement": "QB-SV-MOU"}, ["sv0"]),
    ("qb.officer", {"partner": "KM"}, None),  # many: computed
    ("km.officer", {"agreement": "QB-KM-MOU"}, None),
]


@pytest.mark.parametrize(("user", "filters", "wanted"), CASES)
@pytest.mark.parametrize("per_page", [1, 2, 7])
def test_linked_filters_list_what_a_full_walk_finds(
    actors, opened, user, filters, wanted, per_page
):
    actor = actors[user]
    expected = _expected(actor, **filters)
    if wanted is not None:
        assert expected == [opened[name] for name in wanted]
    else:
        assert len(expected) > 10
    assert _by_cursor(actor, per_page, **filters) == expected
    assert _by_number(actor, per_page, **filters) == expected


def test_linked_filters_combine_with_the_others(actors, opened):
    qb = actors["qb.officer"]
    found = listing.list_cases(
        qb,
        listing.CaseFilters(
            partner="SV", date_from=date(2024, 1, 2), date_to=date(2024, 1, 3), q="vu sv"
        ),
    )
    assert [c.id for c in found.items] == [opened["sv2"], opened["sv1"]]
    cases.change_status(qb, opened["sv1"], "investigating")
    found = listing.list_cases(qb, listing.CaseFilters(partner="SV", status="investigating"))
    assert [c.id for c in found.items] == [opened["sv1"]]


def test_a_page_past_the_last_is_refused_on_the_link_side_too(actors, opened):
    with pytest.raises(ValidationFailed) as caught:
        listing.list_cases(
            actors["qb.officer"], listing.CaseFilters(partner="SV"), page=3, per_page=2
        )
    assert "page" in caught.value.errors


def test_unknown_link_codes_are_refused(actors, opened):
    with pytest.raises(ValidationFailed) as caught:
        listing.list_cases(
            actors["qb.officer"], listing.CaseFilters(agreement="NOPE", partner="XX")
        )
    assert set(caught.value.errors) == {"agreement", "partner"}


def test_the_owner_stays_among_the_organisations(actors, opened):
    """The link-table reading counts the owner as involved: creating and editing keep it."""
    from sqlalchemy import select

    from hub.extensions import db
    from hub.models import case_organisations

    qb = actors["qb.officer"]
    case_id = opened["sv1"]
    cases.update_case(qb, case_id, CaseInput(title="Vụ SV 1", organisations=[]))
    cases.update_case(qb, case_id, CaseInput(title="Vụ SV 1", organisations=["QB", "KM"]))
    linked = db.session.scalars(
        select(case_organisations.c.organisation_id).where(case_organisations.c.case_id == case_id)
    )
    owner = cases.load_for_view(qb, case_id).owner_organisation_id
    assert owner in set(linked)
    assert [c.id for c in listing.list_cases(qb, listing.CaseFilters(partner="QB")).items]
    sv = actors["sv.officer"]
    assert case_id not in [c.id for c in listing.list_cases(sv).items]


@pytest.mark.parametrize("named_up_to", [listing.CASE_IDS_MAX, 1])
def test_exchange_search_finds_by_case_reference_however_many_cases_match(
    actors, monkeypatch, named_up_to
):
    """Matching cases are named to the exchange query by id up to a bound, else by a
    subquery: the same exchanges either way."""

    monkeypatch.setattr(listing, "CASE_IDS_MAX", named_up_to)
    qb, km = actors["qb.officer"], actors["km.officer"]
    sent = []
    for i in range(2):
        case = cases.create_case(
            qb, CaseInput(title=f"Vụ {i}", reference=f"QB-2025-ĐL-{i}", organisations=["KM"])
        )
        sent.append(
            make_exchange(
                qb,
                kind="alert",
                subject="Không liên quan",
                body="x",
                reliability="C",
                credibility=3,
                case=case.id,
            ).id
        )
    for actor in (qb, km):
        page = listing.list_exchanges(actor, listing.ExchangeFilters(q="qb-2025-dl"))
        assert sorted(e.id for e in page.items) == sorted(sent)
    page = listing.list_exchanges(qb, listing.ExchangeFilters(q="qb-2025-dl-1"))
    assert [e.id for e in page.items] == [sent[1]]
    assert listing.list_exchanges(qb, listing.ExchangeFilters(q="zz-nothing")).items == []
