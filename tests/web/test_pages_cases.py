"""Case pages, through the real forms (CSRF included), as the officers use them."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from hub.extensions import db
from hub.models import Case, Seizure

PAGE_LIMIT = 100_000  # bytes, without the font


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


def case_form(browser, path="/cases/new", **fields) -> dict:
    data = {
        "csrf_token": browser.csrf(path),
        "reference": "",
        "title": "Vận chuyển ma tuý qua Cha Lo",
        "opened_on": "2024-03-07",
        "province": "VN-QB",
        "district": "",
        "locality": "",
        "border_gate": "VN-CHALO",
        "place_note": "",
        "organisations": ["KM"],
        "confirmed": "",
    }
    for i in range(3):
        data.update(
            {
                f"seizures-{i}-drug_type": "crystal_meth",
                f"seizures-{i}-quantity": "",
                f"seizures-{i}-unit": "kg",
                f"seizures-{i}-seized_on": "",
            }
        )
    data.update(fields)
    return data


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" type="hidden" value="([^"]*)"', page) or re.search(
        rf'id="{name}" name="{name}" type="hidden" value="([^"]*)"', page
    )
    assert match, f"no hidden {name}"
    return match.group(1)


@pytest.fixture
def qb(browser, demo_users):
    browser.login("qb.officer")  # Vietnamese
    return browser


def test_seizure_typed_the_vietnamese_way_is_shown_back_then_saved(qb):
    client = qb.client
    data = case_form(qb, **{"seizures-0-quantity": "2,5"})
    first = client.post("/cases/new", data=data)
    page = first.get_data(as_text=True)
    assert first.status_code == 200
    assert "2,5 kg" in page  # what "2,5" was read as, in vi
    assert count(Case) == 0  # nothing saved before confirming
    confirmed = hidden(page, "confirmed")
    assert confirmed == "0:2.5:kg"
    second = client.post("/cases/new", data={**data, "confirmed": confirmed})
    assert second.status_code == 303
    case = db.session.scalar(select(Case))
    assert [(s.drug_type, s.quantity, s.unit) for s in case.seizures] == [
        ("crystal_meth", Decimal("2.5"), "kg")
    ]
    assert case.owner.code == "QB"
    view = client.get(second.headers["Location"])
    assert view.status_code == 200
    assert "2,5 kg" in view.get_data(as_text=True)
    assert len(view.data) < PAGE_LIMIT


def test_a_dot_decimal_is_refused_in_vietnamese_and_nothing_stored(qb):
    response = qb.client.post("/cases/new", data=case_form(qb, **{"seizures-0-quantity": "2.5"}))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "field-error" in page
    assert "“,”" in page  # names the decimal separator of the language
    assert count(Case) == 0
    assert count(Seizure) == 0


def test_changing_a_quantity_after_the_readback_needs_a_new_confirmation(qb):
    data = case_form(qb, **{"seizures-0-quantity": "1.234"})
    page = qb.client.post("/cases/new", data=data).get_data(as_text=True)
    assert "1.234 kg" in page  # one thousand two hundred and thirty-four, spelled back
    assert "1234" in page
    confirmed = hidden(page, "confirmed")
    changed = {**data, "seizures-0-quantity": "1,234", "confirmed": confirmed}
    again = qb.client.post("/cases/new", data=changed)
    assert again.status_code == 200
    assert count(Case) == 0
    final = qb.client.post(
        "/cases/new",
        data={**changed, "confirmed": hidden(again.get_data(as_text=True), "confirmed")},
    )
    assert final.status_code == 303
    assert db.session.scalar(select(Seizure.quantity)) == Decimal("1.234")


def test_bad_case_input_is_reshown_with_the_fields_message(qb):
    data = case_form(qb, title="", province="VN-QB", district="LA-KM-BLP")
    response = qb.client.post("/cases/new", data=data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert page.count('class="field-error"') >= 2
    assert 'aria-invalid="true"' in page
    assert count(Case) == 0


def test_an_english_reader_types_a_dot(browser, demo_users, make_user):
    make_user("qb.english", org="QB", role="officer", language="en")
    browser.login("qb.english")
    data = case_form(browser, **{"seizures-0-quantity": "2.5", "seizures-0-unit": "g"})
    page = browser.client.post("/cases/new", data=data).get_data(as_text=True)
    assert "2.5 g" in page
    response = browser.client.post(
        "/cases/new", data={**data, "confirmed": hidden(page, "confirmed")}
    )
    assert response.status_code == 303
    assert db.session.scalar(select(Seizure.quantity)) == Decimal("2.5")


def test_dates_are_typed_day_first_in_the_pages_language(qb):
    """A text field with a Vietnamese hint, not the browser's date control (whose format
    follows the browser's language); a day typed as officers write it is stored."""
    page = qb.client.get("/cases/new").get_data(as_text=True)
    field = re.search(r'<input[^>]*name="opened_on"[^>]*>', page).group(0)
    assert 'type="text"' in field
    assert 'placeholder="nn/tt/nnnn"' in field
    case_id = _open_case(qb, opened_on="21/3/2024")
    assert db.session.get(Case, case_id).opened_on.isoformat() == "2024-03-21"
    edit = qb.client.get(f"/cases/{case_id}/edit").get_data(as_text=True)
    assert re.search(r'name="opened_on"[^>]*value="21/03/2024"', edit)


def test_a_date_that_is_not_one_is_reshown_and_nothing_stored(qb):
    for typed in ("2024/21/03", "31/02/2024", "7/3/24"):
        response = qb.client.post("/cases/new", data=case_form(qb, opened_on=typed))
        assert response.status_code == 422, typed
        page = response.get_data(as_text=True)
        assert "Ngày không hợp lệ." in page
        assert re.search(rf'name="opened_on"[^>]*value="{re.escape(typed)}"', page)
    assert count(Case) == 0


def _open_case(browser, **fields) -> int:
    data = case_form(browser, **fields)
    response = browser.client.post("/cases/new", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    return int(response.headers["Location"].rstrip("/").split("/")[-1])


def test_status_changes_follow_the_allowed_path(qb):
    case_id = _open_case(qb)
    path = f"/cases/{case_id}"
    page = qb.client.get(path).get_data(as_text=True)
    assert 'value="investigating"' in page
    bad = qb.client.post(
        f"{path}/status", data={"csrf_token": qb.csrf(path), "status": "prosecuted"}
    )
    assert bad.status_code == 422
    assert "field-error" in bad.get_data(as_text=True)
    assert db.session.get(Case, case_id).status == "open"
    good = qb.client.post(
        f"{path}/status", data={"csrf_token": qb.csrf(path), "status": "investigating"}
    )
    assert good.status_code == 303
    db.session.rollback()
    assert db.session.get(Case, case_id).status == "investigating"


def test_edit_keeps_the_names_of_the_cases_time(qb):
    case_id = _open_case(qb, opened_on="2024-03-07")
    page = qb.client.get(f"/cases/{case_id}/edit").get_data(as_text=True)
    assert "tỉnh Quảng Bình" in page  # the province's name in 2024
    path = f"/cases/{case_id}/edit"
    data = case_form(qb, path=path, title="Tiêu đề mới", opened_on="2024-03-07")
    response = qb.client.post(path, data=data)
    assert response.status_code == 303
    db.session.rollback()
    assert db.session.get(Case, case_id).title == "Tiêu đề mới"
    new_page = qb.client.get("/cases/new").get_data(as_text=True)
    assert "tỉnh Quảng Trị" in new_page  # today's province


def test_add_seizure_on_the_case_page_confirms_first(qb):
    case_id = _open_case(qb)
    path = f"/cases/{case_id}"
    data = {
        "csrf_token": qb.csrf(path),
        "drug_type": "meth_tablets",
        "quantity": "12.000",
        "unit": "tablets",
        "seized_on": "",
        "confirmed": "",
    }
    shown = qb.client.post(f"{path}/seizures", data=data)
    assert shown.status_code == 200
    page = shown.get_data(as_text=True)
    assert "12000" in page
    assert count(Seizure) == 0
    saved = qb.client.post(
        f"{path}/seizures", data={**data, "confirmed": hidden(page, "confirmed")}
    )
    assert saved.status_code == 303
    assert db.session.scalar(select(Seizure.quantity)) == Decimal("12000")


def test_list_search_is_accent_insensitive_and_paginated(qb):
    _open_case(qb, title="Vụ án ở Quảng Bình")
    _open_case(qb, title="Vụ khác", province="", border_gate="")
    page = qb.client.get("/cases/?q=quang+binh").get_data(as_text=True)
    assert "Vụ án ở Quảng Bình" in page
    assert "Vụ khác" not in page
    assert qb.client.get("/cases/?page=999").status_code == 422
    listing = qb.client.get("/cases/")
    assert listing.status_code == 200
    assert len(listing.data) < PAGE_LIMIT


def test_other_organisations_and_supervisors(qb, browser):
    case_id = _open_case(qb, organisations=[])
    browser.client.post("/logout", data={"csrf_token": browser.csrf("/")})
    browser.login("sv.officer")
    assert browser.client.get(f"/cases/{case_id}").status_code == 404
    assert browser.client.get(f"/cases/{case_id}/edit").status_code == 404
    browser.client.post("/logout", data={"csrf_token": browser.csrf("/")})
    browser.login("qb.supervisor")
    page = browser.client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "Vận chuyển ma tuý qua Cha Lo" in page
    assert "<button" not in page.split("<main", 1)[1]  # read-only: no write buttons
    assert browser.client.get("/cases/new").status_code == 403
    response = browser.client.post(
        f"/cases/{case_id}/status",
        data={"csrf_token": browser.csrf(f"/cases/{case_id}"), "status": "investigating"},
    )
    assert response.status_code == 403
    assert db.session.get(Case, case_id).status == "open"
