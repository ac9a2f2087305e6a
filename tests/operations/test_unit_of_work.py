"""The unit of work: one commit at the outermost exit, everything rolled back on error,
nested operations joined, lasting writes kept; faces leave nothing pending; every
opening of sealed content stays audited whatever follows it (issue 12, item 2)."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select, update

from hub.errors import NotFound, ValidationFailed
from hub.extensions import db
from hub.models import AuditEntry, Exchange, SealedPayload, Setting, Suspect
from hub.operations import attachments, cases, exchanges, unit
from hub.operations.actor import Actor
from hub.operations.exchanges import NewExchange
from hub.operations.payloads import PayloadUnreadable


@pytest.fixture(autouse=True)
def _request(app):
    # Refusals carry translated messages, which need a request to pick the language.
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


@contextmanager
def counted_commits():
    """COMMITs the engine sends, on every connection (the real engine's event)."""
    seen: list[int] = []

    def on_commit(_conn) -> None:
        seen.append(1)

    event.listen(db.engine, "commit", on_commit)
    try:
        yield seen
    finally:
        event.remove(db.engine, "commit", on_commit)


def actor(demo_users, name: str) -> Actor:
    return Actor.for_user(demo_users[name])


def request_data(**extra) -> NewExchange:
    values = dict(
        agreement="QB-KM-MOU",
        recipient="KM",
        kind="request",
        subject="Verification",
        body="Body",
        classification="restricted",
        reliability="B",
        credibility=2,
        handling="H0",
    )
    values.update(extra)
    return NewExchange(**values)


def entries(action: str, target_type: str | None = None) -> list[AuditEntry]:
    db.session.remove()  # what is committed, from a fresh session
    query = select(AuditEntry).where(AuditEntry.action == action)
    if target_type is not None:
        query = query.where(AuditEntry.target_type == target_type)
    return list(db.session.scalars(query.order_by(AuditEntry.id)))


def count_exchanges() -> int:
    db.session.remove()
    return db.session.scalar(select(func.count()).select_from(Exchange))


def damage(payload_id: int) -> None:
    """Flip a byte of a stored ciphertext (as a disk or a hand in the database would)."""
    row = db.session.get(SealedPayload, payload_id)
    flipped = bytes([row.ciphertext[0] ^ 1]) + row.ciphertext[1:]
    db.session.execute(
        update(SealedPayload).where(SealedPayload.id == payload_id).values(ciphertext=flipped)
    )
    db.session.commit()  # the test's own hand edit, not the hub's


# --- the boundary -------------------------------------------------------------------


def test_nested_operations_commit_once_at_the_outermost_exit(app, demo_users):
    qb = actor(demo_users, "qb.officer")
    # The log's first checkpoint is signed after this one; the next is not due for
    # HUB_CHECKPOINT_INTERVAL_MINUTES, so the commits below are the operations' own.
    exchanges.send(qb, request_data(subject="warm-up"))
    with counted_commits() as commits:
        exchange = exchanges.send_with_attachments(
            qb,
            request_data(),
            [("a.txt", b"first file\n"), ("b.txt", b"second file\n")],
        )
    assert len(commits) == 1
    assert len(exchange.attachments) == 2
    with counted_commits() as commits, unit.unit_of_work():
        exchanges.send(qb, request_data(subject="one"))
        exchanges.send(qb, request_data(subject="two"))
        assert commits == []  # the inner operations joined the outer one
    assert len(commits) == 1


def test_an_error_rolls_back_everything_of_the_outer_operation(app, demo_users):
    qb = actor(demo_users, "qb.officer")
    before = count_exchanges()
    with pytest.raises(ValidationFailed) as caught:
        # The exchange is valid; the second file is not: nothing of the send stays.
        exchanges.send_with_attachments(
            qb, request_data(), [("a.txt", b"fine\n"), ("evil.exe", b"MZ\x90\x00")]
        )
    assert "file" in caught.value.errors or "filename" in caught.value.errors
    assert count_exchanges() == before
    assert entries("exchange_sent") == []
    assert entries("attachment_added") == []
    assert not unit.pending_changes()


def test_an_error_midway_through_a_multi_step_api_call_leaves_nothing(
    app, client, demo_users, api_token
):
    """KM answers QB's request through the API, but KM's signing key is gone from the
    key folder: the response row is written (its id is in what is sealed) before the
    sealing fails. The call fails, and nothing of it stays: no response, no entry, the
    request not answered."""
    from pathlib import Path

    qb = actor(demo_users, "qb.officer")
    asked = exchanges.send(qb, request_data())
    before = count_exchanges()
    for key in (Path(app.config["HUB"].keys_dir) / "KM").glob("sign-v*.key.json"):
        key.unlink()
    response = client.post(
        "/api/v1/exchanges",
        json={
            "agreement": "QB-KM-MOU",
            "recipient": "QB",
            "kind": "response",
            "in_reply_to": asked.id,
            "subject": "Answer",
            "body": "Answer body",
            "classification": "restricted",
            "reliability": "B",
            "credibility": 2,
            "handling": "H0",
        },
        headers=api_token("km.officer"),
    )
    assert response.status_code >= 500
    assert count_exchanges() == before
    assert len(entries("exchange_sent")) == 1
    assert entries("request_answered") == []
    assert db.session.get(Exchange, asked.id).answered_at is None
    assert not unit.pending_changes()


def test_a_unit_can_discard_and_restart(app, demo_users):
    qb = actor(demo_users, "qb.officer")
    before = count_exchanges()
    with unit.unit_of_work() as work:
        exchanges.send(qb, request_data(subject="dropped"))
        work.restart()
        exchanges.send(qb, request_data(subject="kept"))
    assert count_exchanges() == before + 1
    with unit.unit_of_work() as work:
        exchanges.send(qb, request_data(subject="dry run"))
        work.discard()
    assert count_exchanges() == before + 1
    with unit.unit_of_work() as work:
        exchanges.send(qb, request_data(subject="nested"))
        with unit.unit_of_work() as inner, pytest.raises(RuntimeError):
            inner.restart()


def test_faces_leave_no_pending_change(app, client, demo_users, browser, api_token):
    """Each request of a mixed round ends with nothing written outside a unit (the
    teardown check fails a request under TESTING when it would)."""
    qb = actor(demo_users, "qb.officer")
    exchange = exchanges.send(qb, request_data())
    browser.login("km.officer")
    for path in ("/", "/exchanges/", f"/exchanges/{exchange.id}", "/cases/"):
        assert client.get(path).status_code == 200, path
        assert not unit.pending_changes(), path
    headers = api_token("qb.officer")
    assert client.get(f"/api/v1/exchanges/{exchange.id}", headers=headers).status_code == 200
    assert not unit.pending_changes()
    # A face that changes a row and never calls an operation is caught at teardown.
    db.session.add(Setting(key="left.behind", value="x"))
    with pytest.raises(AssertionError, match="outside a unit of work"):
        unit.check_nothing_pending()
    assert unit.end_failed_transaction()
    assert db.session.get(Setting, "left.behind") is None


# --- issue 12, item 2: every opening audited, whatever happens after it --------------


def _case_with_two_suspects(demo_users):
    qb = actor(demo_users, "qb.officer")
    case = cases.create_case(
        qb,
        cases.CaseInput(title="Two suspects", organisations=["KM"], agreements=["QB-KM-MOU"]),
        suspects=[
            cases.SuspectInput(name="Nguyễn Văn A", identity_document="B1111111"),
            cases.SuspectInput(name="Trần Văn B", identity_document="B2222222"),
        ],
    )
    first, second = db.session.scalars(
        select(Suspect).where(Suspect.case_id == case.id).order_by(Suspect.id)
    )
    return qb, case.id, first.id, second.id, second.payload_id


def test_a_damaged_second_suspect_keeps_the_first_opening_audited(app, demo_users):
    qb, case_id, first, second, damaged = _case_with_two_suspects(demo_users)
    damage(damaged)
    case = cases.load_for_view(qb, case_id)
    shown = cases.read_suspects(qb, case)
    assert [s.name for s in shown] == ["Nguyễn Văn A"]
    opened = entries("payload_opened", "suspect")
    failed = entries("payload_open_failed", "suspect")
    assert [e.target_id for e in opened] == [str(first)]
    assert [e.target_id for e in failed] == [str(second)]


def test_the_case_page_with_a_damaged_suspect_audits_both(app, client, demo_users, browser):
    _qb, case_id, first, second, damaged = _case_with_two_suspects(demo_users)
    damage(damaged)
    browser.login("qb.officer")
    page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200
    assert "Nguyễn Văn A" in page.get_data(as_text=True)
    assert [e.target_id for e in entries("payload_opened", "suspect")] == [str(first)]
    assert [e.target_id for e in entries("payload_open_failed", "suspect")] == [str(second)]


def test_a_later_failure_never_undoes_an_earlier_opening(app, demo_users):
    """The exchange's body opens, its translation does not: the read fails as a whole,
    and both the opening and the failed attempt stay on record; so does an opening
    followed by any other error in the same operation."""
    qb = actor(demo_users, "qb.officer")
    exchange = exchanges.send(qb, request_data())
    translation = exchanges.add_translation(qb, exchange.id, language="lo", body="ແປ")
    damage(translation.payload_id)
    row = exchanges.load_for_view(qb, exchange.id)
    with pytest.raises(PayloadUnreadable):
        exchanges.read(qb, row)
    assert [e.target_type for e in entries("payload_opened")] == ["exchange"]
    assert [e.target_type for e in entries("payload_open_failed")] == ["exchange_translation"]

    # An opening, then an unrelated error in the same unit: the error's changes go,
    # the opening's entry stays.
    plain = exchanges.send(qb, request_data(subject="plain"))
    before = count_exchanges()

    def read_then_fail() -> None:
        with unit.unit_of_work():
            exchanges.read(qb, exchanges.load_for_view(qb, plain.id))
            exchanges.send(qb, request_data(subject="never kept"))
            raise NotFound()

    with pytest.raises(NotFound):
        read_then_fail()
    assert count_exchanges() == before
    assert [e.target_id for e in entries("payload_opened")][-1] == str(plain.id)


def test_an_opened_attachment_stays_audited_when_its_unit_fails(app, demo_users):
    qb = actor(demo_users, "qb.officer")
    exchange = exchanges.send_with_attachments(qb, request_data(), [("a.txt", b"text\n")])
    attachment_id = exchange.attachments[0].id

    def open_then_fail() -> None:
        with unit.unit_of_work():
            attachments.open_attachment(qb, exchange.id, attachment_id)
            raise ValidationFailed.one("x", "refused after the opening")

    with pytest.raises(ValidationFailed):
        open_then_fail()
    assert [e.target_id for e in entries("payload_opened", "attachment")] == [str(attachment_id)]


def test_an_apps_steps_run_at_its_units_flushes_and_ends(app, demo_users, caplog):
    """Steps are per application (create_app registers the hub's own); a step after the
    commit that fails is logged and the change stands; one before the commit that
    fails is a failure like any other."""
    from hub import create_app

    seen: list[str] = []
    unit.add_steps(
        app,
        flushed=lambda s: seen.append("flushed"),
        before_commit=lambda s: seen.append("before"),
        after_commit=lambda s: seen.append("after"),
        after_rollback=lambda s: seen.append("rollback"),
    )
    admin = actor(demo_users, "admin")
    with unit.unit_of_work():
        db.session.add(Setting(key="probe.one", value="1"))
        db.session.flush()
    assert seen == ["flushed", "before", "after"]
    seen.clear()

    def add_then_fail() -> None:
        with unit.unit_of_work():
            db.session.add(Setting(key="probe.two", value="2"))
            exchanges.load_for_view(admin, 10**9)

    with pytest.raises(NotFound):
        add_then_fail()
    assert seen[-1] == "rollback"
    assert "after" not in seen
    assert db.session.get(Setting, "probe.two") is None

    def broken(_session) -> None:
        raise RuntimeError("a broken step")

    unit.add_steps(app, after_commit=broken)
    with unit.unit_of_work():
        db.session.add(Setting(key="probe.three", value="3"))
    assert db.session.get(Setting, "probe.three").value == "3"
    assert "a step after the commit failed" in caplog.text

    unit.add_steps(app, before_commit=broken)
    with pytest.raises(RuntimeError), unit.unit_of_work():
        db.session.add(Setting(key="probe.four", value="4"))
    assert db.session.get(Setting, "probe.four") is None

    # Another application's units run none of these.
    other = create_app(app.config["HUB"])
    assert other.extensions[unit.STEPS] is not app.extensions[unit.STEPS]
    assert broken not in other.extensions[unit.STEPS].before_commit
