"""The per-process copy of agreements used when sending: edits are seen at once, by the
process that made them and by any other (through the reference version)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import caches, create_app
from hub.errors import ValidationFailed
from hub.extensions import db
from hub.models import Agreement, Obligation, Setting
from hub.operations import exchanges, obligations, reference_cache
from hub.operations.actor import Actor
from hub.operations.unit import unit_of_work
from tests.conftest import _settings, make_exchange


def _request(actor: Actor, subject: str = "Xác minh") -> exchanges.Exchange:
    return make_exchange(actor, subject=subject)


def _days(row) -> float:
    return (row.due_at - row.sent_at) / timedelta(days=1)


@contextmanager
def _another_process(app, tmp_path) -> Iterator[Session]:
    """Another hub process on the same database: its own application, session and
    connection, writing in a unit of work as every process does."""
    other = create_app(_settings(tmp_path / "other", app.config["HUB"].database_url))
    with other.app_context():
        with unit_of_work():
            yield db.session()
        db.session.remove()
        db.engine.dispose()
    caches.reset_all(other)


def test_an_obligation_edit_is_used_by_the_next_send(app, demo_users):
    with app.test_request_context():
        qb = Actor.for_user(demo_users["qb.officer"])
        admin = Actor.for_user(demo_users["admin"])
        first = _request(qb)
        assert _days(first) == 7
        stamp = reference_cache.version()
        rule = db.session.scalar(
            select(Obligation)
            .join(Agreement)
            .where(Agreement.code == "QB-KM-MOU", Obligation.kind == "response_time")
        )
        obligations.update_obligation(admin, "QB-KM-MOU", rule.id, {"days": 3})
        assert reference_cache.version() != stamp
        db.session.remove()
        assert _days(_request(qb, "Lần hai")) == 3


def test_an_edit_by_another_process_is_seen(app, demo_users, tmp_path):
    with app.test_request_context():
        qb = Actor.for_user(demo_users["qb.officer"])
        assert _days(_request(qb)) == 7
        db.session.remove()
        with _another_process(app, tmp_path) as other:
            agreement = other.scalar(select(Agreement).where(Agreement.code == "QB-KM-MOU"))
            agreement.classifications = ["restricted"]
            rule = agreement.obligation("response_time")
            rule.params = {"days": 2}
        assert _days(_request(qb)) == 2
        db.session.remove()
        with pytest.raises(ValidationFailed) as caught:
            make_exchange(qb, kind="alert", subject="Mật", body="x", classification="secret")
        assert "classification" in caught.value.errors


def test_a_party_removed_elsewhere_is_refused(app, demo_users, tmp_path):
    with app.test_request_context():
        qb = Actor.for_user(demo_users["qb.officer"])
        _request(qb)  # fills the copy
        db.session.remove()
        with _another_process(app, tmp_path) as other:
            agreement = other.scalar(select(Agreement).where(Agreement.code == "QB-KM-MOU"))
            agreement.parties = [p for p in agreement.parties if p.code != "KM"]
        with pytest.raises(ValidationFailed) as caught:
            _request(qb)
        assert "recipient" in caught.value.errors


def test_only_reference_edits_change_the_version(app, demo_users):
    with app.test_request_context():
        qb = Actor.for_user(demo_users["qb.officer"])
        stamp = reference_cache.version()
        _request(qb)
        assert reference_cache.version() == stamp
        assert db.session.get(Setting, reference_cache.VERSION_KEY) is not None


def test_an_edit_is_used_in_its_own_transaction_and_undone_with_it(app, demo_users):
    """In the transaction that edits, sends use the edit (the new version is written
    only at the commit); a rolled-back edit leaves the version and the copy as they were."""
    with app.test_request_context():
        qb = Actor.for_user(demo_users["qb.officer"])
        assert _days(_request(qb)) == 7  # fills the copy
        stamp = reference_cache.version()

        def edit_send_then_fail() -> None:
            with unit_of_work():
                rule = db.session.scalar(
                    select(Obligation)
                    .join(Agreement)
                    .where(Agreement.code == "QB-KM-MOU", Obligation.kind == "response_time")
                )
                rule.params = {"days": 4}
                assert _days(_request(qb, "Trong giao dịch")) == 4
                assert reference_cache.version() == stamp  # written at the commit
                raise RuntimeError("the edit fails")

        with pytest.raises(RuntimeError):
            edit_send_then_fail()
        assert reference_cache.version() == stamp
        db.session.remove()
        assert _days(_request(qb, "Sau khi hủy")) == 7


def test_an_edit_outside_the_unit_of_work_is_not_seen(app, demo_users):
    """The limit, as the module says: a session of its own, committing by hand, bumps no
    version (the hub's own writes all go through a unit of work)."""
    with app.test_request_context():
        qb = Actor.for_user(demo_users["qb.officer"])
        assert _days(_request(qb)) == 7
        stamp = reference_cache.version()
        db.session.remove()
        with Session(db.engine) as other:
            agreement = other.scalar(select(Agreement).where(Agreement.code == "QB-KM-MOU"))
            agreement.obligation("response_time").params = {"days": 2}
            other.commit()
        assert reference_cache.version() == stamp
        assert _days(_request(qb, "Lần hai")) == 7
