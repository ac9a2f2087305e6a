"""Sealed payloads in the app: every payload kind round-trips for entitled readers only,
every reading and every failed opening is audited, nothing is plaintext at rest,
rows cannot be swapped, and rotation plus re-wrap lose nothing."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url

from hub import app_keyring
from hub.errors import OperationError
from hub.extensions import db
from hub.models import AuditEntry, AuditLog, Exchange, PayloadWrap, SealedPayload, Setting, Suspect
from hub.operations import accounts, attachments, cases, exchanges, payloads
from hub.operations import keys as key_ops
from hub.operations.actor import SYSTEM, Actor
from tests.conftest import PASSWORD, make_exchange


@pytest.fixture(autouse=True)
def _request(app):
    # Refusals carry translated messages, which need a request to pick the language.
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


def officer(username: str, org: str) -> Actor:
    user = accounts.add_user(
        SYSTEM, username=username, password=PASSWORD, organisation_code=org, role="officer"
    )
    return Actor.for_user(user)


def bare_actor(org: str) -> Actor:
    return Actor(
        user_id=None,
        username=f"{org.lower()}.reader",
        organisation_id=None,
        organisation_code=org,
        role="officer",
    )


def seal_exchange(content: bytes = b"body", record_id: int = 1, **extra) -> SealedPayload:
    values = dict(
        record_type="exchange",
        record_id=record_id,
        agreement="QB-KM-MOU",
        sender="QB",
        recipient="KM",
        readers=["QB", "KM"],
        content=content,
    )
    values.update(extra)
    row = payloads.seal(**values)
    db.session.commit()
    return row


def count(action: str) -> int:
    return db.session.scalar(select(func.count()).where(AuditEntry.action == action))


def open_as(org: str, row: SealedPayload, record_id: int = 1, record_type: str = "exchange"):
    return payloads.open_for(
        bare_actor(org), row, record_type=record_type, record_id=record_id, logs=["QB-KM-MOU"]
    )


def test_round_trip_for_sender_and_recipient_is_audited(app):
    row = seal_exchange("the body — Quảng Bình".encode())
    assert {w.org_code for w in row.wraps} == {"QB", "KM"}
    for org in ("QB", "KM"):
        assert open_as(org, row) == "the body — Quảng Bình".encode()
    db.session.commit()
    assert count("payload_opened") == 2
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "payload_opened"))
    assert row.ciphertext_sha256.encode() in entry.leaf_input


def test_other_organisation_is_refused_and_learns_nothing(app):
    row = seal_exchange(b"secret")
    with pytest.raises(payloads.NotAReaderError) as caught:
        open_as("SV", row)
    assert caught.value.status == 403
    assert count("payload_opened") == 0


def test_every_payload_kind_through_the_operations(app):
    """Exchange body, attachment and suspect: opened by the entitled, refused to others."""
    qb, km, sv = officer("qb.p", "QB"), officer("km.p", "KM"), officer("sv.p", "SV")
    exchange = make_exchange(qb, subject="Checks", body="Body text", classification="confidential")
    attachment = attachments.add(qb, exchange.id, filename="a.txt", data=b"attached\n")
    case = cases.create_case(
        qb,
        cases.CaseInput(title="Case", organisations=["KM"], agreements=["QB-KM-MOU"]),
        suspects=[cases.SuspectInput(name="Nguyễn Văn A", identity_document="B1234567")],
    )
    before = count("payload_opened")
    for reader in (qb, km):
        row = db.session.get(Exchange, exchange.id)
        assert exchanges.read(reader, row).texts[0].body == "Body text"
        assert attachments.open_attachment(reader, exchange.id, attachment.id).data == b"attached\n"
        assert [s.name for s in cases.read_suspects(reader, case)] == ["Nguyễn Văn A"]
    assert count("payload_opened") == before + 6
    row = db.session.get(Exchange, exchange.id)
    with pytest.raises(OperationError):
        exchanges.read(sv, row)
    with pytest.raises(OperationError):
        attachments.open_attachment(sv, exchange.id, attachment.id)
    suspect = db.session.scalar(select(Suspect))
    with pytest.raises(payloads.NotAReaderError):
        payloads.open_for(sv, suspect.payload, record_type="suspect", record_id=suspect.id, logs=[])
    assert count("payload_opened") == before + 6


def _fail_and_check_audited(row: SealedPayload, reason: str, **kwargs) -> None:
    before = count("payload_open_failed")
    with pytest.raises(payloads.PayloadUnreadable) as caught:
        open_as("KM", row, **kwargs)
    assert str(caught.value.message)
    # Committed although the request failed: visible from a fresh session.
    db.session.remove()
    assert count("payload_open_failed") == before + 1
    entry = db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == "payload_open_failed")
        .order_by(AuditEntry.id.desc())
    ).first()
    assert reason.encode() in entry.leaf_input


def test_tampered_ciphertext_fails_and_is_audited(app):
    row = seal_exchange(b"x" * 100)
    flipped = bytes([row.ciphertext[0] ^ 1]) + row.ciphertext[1:]
    db.session.execute(
        update(SealedPayload).where(SealedPayload.id == row.id).values(ciphertext=flipped)
    )
    db.session.commit()
    # The stored digest no longer matches what was signed either: refused either way.
    _fail_and_check_audited(db.session.get(SealedPayload, row.id), "bad_signature")


def test_tampered_signature_and_wrap_fail(app):
    row = seal_exchange(b"y" * 10)
    db.session.execute(
        update(SealedPayload).where(SealedPayload.id == row.id).values(signature=bytes(64))
    )
    db.session.commit()
    _fail_and_check_audited(db.session.get(SealedPayload, row.id), "bad_signature")

    other = seal_exchange(b"z" * 10, record_id=2)
    wrap = db.session.get(PayloadWrap, (other.id, "KM"))
    wrap.enc = wrap.enc[:-1] + bytes([wrap.enc[-1] ^ 1])
    db.session.commit()
    _fail_and_check_audited(db.session.get(SealedPayload, other.id), "tampered", record_id=2)


def test_moved_ciphertext_or_wrap_fails(app):
    first = seal_exchange(b"first", record_id=1).id
    second = seal_exchange(b"second", record_id=2).id
    # The whole payload row pointed at from another record.
    _fail_and_check_audited(db.session.get(SealedPayload, first), "wrong_record", record_id=2)
    # The row relabelled to the other record as well: the binding still names record 1.
    db.session.execute(update(SealedPayload).where(SealedPayload.id == first).values(record_id="2"))
    db.session.commit()
    _fail_and_check_audited(db.session.get(SealedPayload, first), "wrong_record", record_id=2)
    # Ciphertext and nonce copied into the other row.
    source = db.session.get(SealedPayload, second)
    target_id = first
    db.session.execute(
        update(SealedPayload)
        .where(SealedPayload.id == target_id)
        .values(record_id="1", ciphertext=source.ciphertext, nonce=source.nonce)
    )
    db.session.commit()
    _fail_and_check_audited(db.session.get(SealedPayload, target_id), "bad_signature")
    # A wrap moved from one payload to another (same reader).
    third = seal_exchange(b"third", record_id=3)
    fourth = seal_exchange(b"fourth", record_id=4)
    enc = db.session.get(PayloadWrap, (third.id, "KM")).enc
    db.session.get(PayloadWrap, (fourth.id, "KM")).enc = enc
    db.session.commit()
    _fail_and_check_audited(db.session.get(SealedPayload, fourth.id), "tampered", record_id=4)


def test_missing_key_fails_clearly_and_is_audited(app):
    row = seal_exchange(b"needs KM v1")
    path = Path(app.config["HUB"].keys_dir) / "KM" / "enc-v1.key.json"
    path.rename(path.with_suffix(".retired"))
    app.extensions.pop("hub_keys")  # a fresh process: nothing cached
    _fail_and_check_audited(db.session.get(SealedPayload, row.id), "missing_key")


def test_failed_opening_rolls_back_the_callers_pending_changes(app):
    row = seal_exchange(b"p")
    db.session.execute(
        update(SealedPayload).where(SealedPayload.id == row.id).values(nonce=bytes(12))
    )
    db.session.commit()
    row = db.session.get(SealedPayload, row.id)
    db.session.add(Setting(key="pending", value="x"))
    with pytest.raises(payloads.PayloadUnreadable):
        open_as("KM", row)
    db.session.remove()
    assert db.session.get(Setting, "pending") is None
    assert count("payload_open_failed") == 1


def test_rotation_and_rewrap_keep_everything_readable(app):
    old = seal_exchange(b"sealed under v1", record_id=1)
    old_id = old.id
    version = key_ops.rotate(SYSTEM, "KM")
    assert version == 2
    new = seal_exchange(b"sealed under v2", record_id=2)
    assert db.session.get(PayloadWrap, (new.id, "KM")).key_version == 2
    assert db.session.get(PayloadWrap, (old.id, "KM")).key_version == 1
    assert open_as("KM", old, record_id=1) == b"sealed under v1"
    assert open_as("KM", new, record_id=2) == b"sealed under v2"
    ciphertext = old.ciphertext
    result = key_ops.rewrap_all(SYSTEM, "KM")
    assert result.rewrapped == 1
    assert result.remaining == {2: 2}
    db.session.remove()
    old = db.session.get(SealedPayload, old_id)
    assert old.ciphertext == ciphertext  # untouched
    assert db.session.get(PayloadWrap, (old_id, "KM")).key_version == 2
    # The v1 private key can now be retired: everything still opens without it.
    path = Path(app.config["HUB"].keys_dir) / "KM" / "enc-v1.key.json"
    path.rename(path.with_suffix(".retired"))
    app.extensions.pop("hub_keys")
    assert open_as("KM", old, record_id=1) == b"sealed under v1"
    assert open_as("QB", old, record_id=1) == b"sealed under v1"
    assert count("keys_rotated") >= 1
    assert count("keys_rewrapped") >= 1
    # Rotation is recorded in the logs of the agreements KM is party to.
    logs = set(
        db.session.scalars(
            select(AuditLog.name)
            .join(AuditEntry, AuditEntry.log_id == AuditLog.id)
            .where(AuditEntry.action == "keys_rotated")
        )
    )
    assert {"hub", "QB-KM-MOU"} <= logs


def test_blind_index_is_keyed_normalised_and_per_kind(app):
    a = payloads.blind_index("name", "Nguyễn  Văn A")
    assert a == payloads.blind_index("name", "nguyen van a")
    assert a != payloads.blind_index("document", "nguyen van a")
    assert len(a) == 64
    assert "nguyen" not in a
    with pytest.raises(ValueError, match="nothing"):
        payloads.blind_index("name", "  ")
    # Not the session secret: another secret file gives other indexes.
    path = Path(app.config["HUB"].keys_dir) / "_hub" / app_keyring.INDEX_KEY_FILE
    path.unlink()
    app.extensions.pop("hub_keys")
    assert payloads.blind_index("name", "nguyen van a") != a


# --- no plaintext at rest ---------------------------------------------------------


def _write_markers(tag: str) -> list[bytes]:
    qb = officer(f"qb.{tag}", "QB")
    body, attached, name = (f"{kind}-{uuid.uuid4().hex}" for kind in ("BODY", "FILE", "NAME"))
    exchange = make_exchange(
        qb,
        subject="Plain subject",
        body=f"Text {body} text",
        classification="secret",
        reliability="A",
        credibility=1,
    )
    attachments.add(qb, exchange.id, filename="m.txt", data=f"{attached}\n".encode())
    cases.create_case(
        qb,
        cases.CaseInput(title="Marker case", organisations=["KM"]),
        suspects=[cases.SuspectInput(name=f"Suspect {name}", identity_document="X1")],
    )
    db.session.commit()
    # Sanity: readable for the entitled (so the markers did go in).
    row = db.session.get(Exchange, exchange.id)
    assert body in exchanges.read(qb, row).texts[0].body
    markers = [body, attached, name]
    return [m.encode() for m in markers] + [m.encode("utf-16-le") for m in markers]


def test_no_plaintext_in_the_database_file(app, database_backend):
    if database_backend != "sqlite":
        pytest.skip("the raw-file check reads the SQLite file (PostgreSQL: see the pg_dump test)")
    markers = _write_markers("raw")
    db.session.remove()
    db.engine.dispose()  # checkpoint the WAL into the file
    path = Path(make_url(app.config["HUB"].database_url).database)
    raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert raw
    for marker in markers:
        assert marker not in raw


def test_no_plaintext_in_a_postgresql_dump(app, database_backend, postgres_url, tmp_path):
    if database_backend == "postgresql":
        url = app.config["HUB"].database_url
    else:
        pytest.skip("run with HUB_TEST_DATABASE_URL (the suite's PostgreSQL backend)")
    markers = _write_markers("pg")
    db.session.remove()
    target = make_url(url)
    env = {**os.environ, "PGPASSWORD": target.password or ""}
    dump = subprocess.run(
        [
            "pg_dump",
            "--no-owner",
            "-h",
            target.host or "127.0.0.1",
            "-p",
            str(target.port or 5432),
            "-U",
            target.username or "postgres",
            target.database,
        ],
        capture_output=True,
        env=env,
        check=True,
        timeout=120,
    ).stdout
    assert b"sealed_payloads" in dump
    for marker in markers:
        # bytea columns are dumped as hex: look for both spellings.
        assert marker not in dump
        assert marker.hex().encode() not in dump


def test_a_failed_opening_shows_a_clear_page_and_is_recorded(app, browser):
    qb = officer("qb.page", "QB")
    exchange = make_exchange(
        qb, kind="alert", subject="Alert", body="Alert body", reliability="C", credibility=3
    )
    exchange_id, payload_id = exchange.id, exchange.payload_id
    db.session.execute(
        update(SealedPayload).where(SealedPayload.id == payload_id).values(signature=bytes(64))
    )
    db.session.commit()
    browser.login("qb.page")
    response = browser.client.get(f"/exchanges/{exchange_id}", headers={"Accept-Language": "en"})
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "Alert body" not in page
    assert "signature on this content does not verify" in page
    db.session.remove()
    assert count("payload_open_failed") == 1
