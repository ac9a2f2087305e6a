"""One spelling per username: case-insensitive uniqueness and a safe alphabet.

`KM.Officer` was a second account beside `km.officer`, sharing its lockout counter;
Cyrillic and fullwidth look-alikes were accepted as new names.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from hub.errors import ValidationFailed
from hub.extensions import db
from hub.models import User
from hub.operations import accounts
from hub.operations.actor import SYSTEM
from tests.conftest import PASSWORD


def _add(username: str) -> User:
    return accounts.add_user(
        SYSTEM, username=username, password=PASSWORD, organisation_code="KM", role="officer"
    )


@pytest.mark.parametrize(
    "spelling",
    ["KM.Officer", " km.officer ", "KM.OFFICER"],
)
def test_a_second_spelling_of_a_name_is_taken(app, make_user, spelling):
    make_user("km.officer", org="KM")
    with pytest.raises(ValidationFailed) as refused:
        _add(spelling)
    assert list(refused.value.errors) == ["username"]
    assert db.session.scalar(select(func.count()).select_from(User)) == 1


@pytest.mark.parametrize(
    "look_alike",
    ["km.\u043efficer", "km.\uff4ffficer", "km officer", "-km", "k" * 65, ""],
)
def test_look_alikes_and_unsafe_names_are_refused(app, look_alike):
    with pytest.raises(ValidationFailed) as refused:
        _add(look_alike)
    assert list(refused.value.errors) == ["username"]


def test_a_name_is_stored_lower_case_and_signs_in_whatever_its_case(app, browser):
    user = _add("Sv.Analyst")
    assert user.username == "sv.analyst"
    answer = browser.login("SV.ANALYST")
    assert answer.status_code in (302, 303)


def test_the_database_refuses_a_second_spelling_written_by_hand(app, make_user):
    make_user("km.officer", org="KM")
    row = db.session.scalar(select(User))
    values = {c.name: getattr(row, c.key) for c in User.__table__.columns if c.name != "id"}
    with pytest.raises(IntegrityError):
        db.session.execute(insert(User.__table__).values(values | {"username": "KM.Officer"}))
    db.session.rollback()


def test_a_display_name_loses_bidirectional_controls(app):
    user = accounts.add_user(
        SYSTEM,
        username="km.analyst",
        password=PASSWORD,
        organisation_code="KM",
        role="officer",
        display_name="inv\u202egpj.exe",
    )
    assert user.display_name == "invgpj.exe"
