"""Sealed packages between two separate hubs: two databases, two keyrings that know
each other's public keys; a signed receipt comes back; every bad package is refused
with nothing stored."""

from __future__ import annotations

import contextlib
import json
import shutil
import uuid
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from hub import app_keyring, create_app
from hub.errors import OperationError
from hub.extensions import db
from hub.models import (
    AuditEntry,
    Exchange,
    ExportedPackage,
    ImportedPackage,
    SealedPayload,
    Setting,
)
from hub.models.identity import HUB_ID_KEY
from hub.operations import accounts, attachments, exchanges, packages
from hub.operations import keys as key_ops
from hub.operations.actor import SYSTEM, Actor
from tests.conftest import PASSWORD, _pg_exec, _settings, make_exchange

MARKER = "PKG-MARKER-" + uuid.uuid4().hex


@pytest.fixture
def other_hub(template_database, database_backend, tmp_path):
    """A second, separate hub: its own database (from the same template) and keyring."""
    base = tmp_path / "hub-b"
    base.mkdir()
    if database_backend == "sqlite":
        target = base / "hub.sqlite3"
        shutil.copyfile(make_url(template_database).database, target)
        url = f"sqlite:///{target}"
        name = None
    else:
        template = make_url(template_database)
        name = f"{template.database[:-4]}_b_{uuid.uuid4().hex[:8]}"
        _pg_exec(template_database, f'CREATE DATABASE "{name}" TEMPLATE "{template.database}"')
        url = template.set(database=name).render_as_string(hide_password=False)
    hub_b = create_app(_settings(base, url))
    hub_b.config.update(TESTING=True)
    with hub_b.app_context():
        # A hub of its own: another id than the template's.
        db.session.get(Setting, HUB_ID_KEY).value = str(uuid.uuid4())
        db.session.commit()
    try:
        yield hub_b
    finally:
        with hub_b.app_context():
            db.session.remove()
            db.engine.dispose()
        if name:
            _pg_exec(template_database, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(autouse=True)
def _request(app):
    # Refusals carry translated messages, which need a request to pick the language.
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


@contextlib.contextmanager
def on(hub):
    with hub.test_request_context(headers={"Accept-Language": "en"}):
        yield
        db.session.remove()


def user_actor(username: str, org: str) -> Actor:
    user = accounts.add_user(
        SYSTEM, username=username, password=PASSWORD, organisation_code=org, role="officer"
    )
    return Actor.for_user(user)


@pytest.fixture
def two_hubs(app, other_hub):
    """Hub A holds QB's keys (and SV's), hub B holds KM's; each imported the other's public keys."""
    key_ops.init_keys(SYSTEM, ["QB", "SV"])
    qb_public = app_keyring.keyring().export_public("QB")
    with on(other_hub):
        key_ops.init_keys(SYSTEM, ["KM"])
        km_public = app_keyring.keyring().export_public("KM")
        key_ops.import_public(SYSTEM, qb_public)
    key_ops.import_public(SYSTEM, km_public)
    return app, other_hub


#: A confidential H2 request from QB to KM carrying MARKER in its body.
send_exchange = partial(
    make_exchange,
    subject="Vehicle checks at Cha Lo",
    body=f"Body {MARKER} Quảng Bình",
    classification="confidential",
    handling="H2",
    handling_note="No onward sharing without asking.",
)


def counts() -> dict[str, int]:
    return {
        model.__name__: db.session.scalar(select(func.count()).select_from(model))
        for model in (Exchange, SealedPayload, ImportedPackage, AuditEntry)
    }


def test_round_trip_between_two_hubs_with_receipt(two_hubs, tmp_path):
    _hub_a, hub_b = two_hubs
    qb = user_actor("qb.pkg", "QB")
    exchange = send_exchange(qb)
    attachments.add(qb, exchange.id, filename="note.txt", data=f"file {MARKER}\n".encode())
    exported = packages.export(qb, exchange.id, "KM")
    assert MARKER not in exported.text
    assert db.session.scalar(select(ExportedPackage.package_sha256)) == exported.digest

    with on(hub_b):
        km = user_actor("km.pkg", "KM")
        result = packages.import_package(km, exported.text)
        assert result.recipient == "KM"
        assert result.exporter == "QB"
        [exchange_id] = result.exchange_ids
        row = db.session.get(Exchange, exchange_id)
        assert (row.handling, row.handling_note, row.classification) == (
            "H2",
            "No onward sharing without asking.",
            "confidential",
        )
        content = exchanges.read(km, row)
        assert MARKER in content.texts[0].body
        [attachment] = row.attachments
        opened = attachments.open_attachment(km, row.id, attachment.id)
        assert opened.filename == "note.txt"
        assert MARKER.encode() in opened.data
        assert (
            db.session.scalar(select(func.count()).where(AuditEntry.action == "payload_opened"))
            == 2
        )
        receipt = result.receipt

    recorded = packages.record_receipt(qb, receipt)
    assert recorded.exchange_id == exchange.id
    assert recorded.recipient_org == "KM"
    assert db.session.get(Exchange, exchange.id).receipt_at is not None
    # The same receipt twice is refused.
    with pytest.raises(OperationError):
        packages.record_receipt(qb, receipt)


def test_bad_packages_are_refused_with_nothing_stored(two_hubs):
    _hub_a, hub_b = two_hubs
    qb = user_actor("qb.pkg", "QB")
    exchange = send_exchange(qb)
    good = packages.export(qb, exchange.id, "KM").text
    doc = json.loads(good)

    def variant(change) -> str:
        copy = json.loads(good)
        change(copy)
        return json.dumps(copy)

    def flip(text: str) -> str:
        return ("B" if text[0] != "B" else "C") + text[1:]

    bad = {
        "tampered ciphertext": variant(
            lambda d: d["items"][1].update(ciphertext=flip(d["items"][1]["ciphertext"]))
        ),
        "tampered signature": variant(
            lambda d: d["items"][1].update(signature=flip(d["items"][1]["signature"]))
        ),
        "tampered manifest signature": variant(lambda d: d.update(signature=flip(d["signature"]))),
        "unknown version": variant(lambda d: d.update(version=2)),
        "other recipient": variant(lambda d: d.update(recipient="SV")),
        "dropped item": variant(lambda d: d["items"].pop()),
        "truncated": good[: len(good) // 2],
        "not json": "hello",
    }
    # Unknown signer: the same exchange exported by a hub whose QB key hub B never saw.
    with on(hub_b):
        before = counts()
        for reason, text in bad.items():
            with pytest.raises(OperationError) as caught:
                packages.import_package(SYSTEM, text)
            assert caught.value.message, reason
            assert counts() == before, reason
        # The good one goes in once; a replay is refused and stores nothing more.
        packages.import_package(SYSTEM, good)
        after = counts()
        with pytest.raises(OperationError, match="imported already"):
            packages.import_package(SYSTEM, good)
        assert counts() == after
    assert doc["recipient"] == "KM"


def test_unknown_signer_is_refused(app, other_hub):
    """Hub B never imported QB's public keys: the package is refused, nothing stored."""
    key_ops.init_keys(SYSTEM, ["QB"])
    with on(other_hub):
        key_ops.init_keys(SYSTEM, ["KM"])
        km_public = app_keyring.keyring().export_public("KM")
    key_ops.import_public(SYSTEM, km_public)
    qb = user_actor("qb.pkg", "QB")
    text = packages.export(qb, send_exchange(qb).id, "KM").text
    with on(other_hub):
        before = counts()
        with pytest.raises(OperationError, match="does not know"):
            packages.import_package(SYSTEM, text)
        assert counts() == before


def test_bundle_carries_replies_and_attachments(app, other_hub, tmp_path):
    """One hub holding QB and KM keys exports a request with its reply; a hub holding
    KM's keys (a copy of the keyring) imports both, linked."""
    qb, km = user_actor("qb.pkg", "QB"), user_actor("km.pkg", "KM")
    request = send_exchange(qb)
    reply = send_exchange(
        km,
        recipient="QB",
        kind="response",
        in_reply_to=request.id,
        subject="Re: vehicle checks",
        body="Reply body",
        handling="H0",
        handling_note="",
    )
    attachments.add(km, reply.id, filename="reply.txt", data=b"reply attachment\n")
    exported = packages.export(qb, request.id, "KM")
    assert exported.items == 4  # index, request, reply, attachment
    keys_a = Path(app_keyring.keyring().root)
    keys_b = Path(other_hub.config["HUB"].keys_dir)
    shutil.copytree(keys_a, keys_b, dirs_exist_ok=True)
    with on(other_hub):
        result = packages.import_package(SYSTEM, exported.text)
        first, second = (db.session.get(Exchange, i) for i in result.exchange_ids)
        assert second.in_reply_to_id == first.id
        assert second.attachments
        assert second.attachments[0].media_type == "text/plain"


def test_export_only_to_the_other_party(app):
    qb = user_actor("qb.pkg", "QB")
    exchange = send_exchange(qb)
    before = db.session.scalar(select(func.count()).select_from(ExportedPackage))
    for org in ("SV", "QB"):
        with pytest.raises(OperationError):
            packages.export(qb, exchange.id, org)
    sv = user_actor("sv.pkg", "SV")
    with pytest.raises(OperationError):
        packages.export(sv, exchange.id, "KM")
    assert db.session.scalar(select(func.count()).select_from(ExportedPackage)) == before


# --- the pages ------------------------------------------------------------------------


def test_download_upload_and_receipt_through_the_pages(two_hubs, browser):
    import io
    import re

    from tests.conftest import Browser

    _hub_a, hub_b = two_hubs
    qb = user_actor("qb.web", "QB")
    exchange = send_exchange(qb)
    db.session.commit()
    exchange_id = exchange.id
    browser.login("qb.web")
    view = browser.client.get(f"/exchanges/{exchange.id}").get_data(as_text=True)
    assert f"/packages/exchange/{exchange.id}" in view
    page = f"/packages/exchange/{exchange.id}"
    assert browser.client.get(page).status_code == 200
    download = browser.client.post(
        f"/packages/exchange/{exchange.id}/export", data={"csrf_token": browser.csrf(page)}
    )
    assert download.status_code == 200
    assert "attachment" in download.headers["Content-Disposition"]
    package = download.get_data()
    assert MARKER.encode() not in package

    with on(hub_b):
        user_actor("km.web", "KM")
        db.session.commit()
        other = Browser(hub_b.test_client())
        other.login("km.web")
        token = other.csrf("/packages/import")
        tampered = package.replace(b'"version": 1', b'"version": 7', 1)
        refused = other.client.post(
            "/packages/import",
            data={"csrf_token": token, "file": (io.BytesIO(tampered), "p.json")},
            content_type="multipart/form-data",
        )
        assert refused.status_code == 422
        assert db.session.scalar(select(func.count()).select_from(Exchange)) == 0
        done = other.client.post(
            "/packages/import",
            data={"csrf_token": token, "file": (io.BytesIO(package), "p.json")},
            content_type="multipart/form-data",
        )
        assert done.status_code == 200
        html = done.get_data(as_text=True)
        link = re.search(r'href="(/packages/imported/[0-9a-f]+/receipt)"', html).group(1)
        receipt = other.client.get(link)
        assert receipt.status_code == 200
        receipt_bytes = receipt.get_data()

    recorded = browser.client.post(
        f"/packages/receipt?exchange={exchange_id}",
        data={"csrf_token": browser.csrf(page), "file": (io.BytesIO(receipt_bytes), "r.json")},
        content_type="multipart/form-data",
    )
    assert recorded.status_code == 302
    db.session.remove()
    assert db.session.get(Exchange, exchange_id).receipt_at is not None
    again = browser.client.post(
        f"/packages/receipt?exchange={exchange_id}",
        data={"csrf_token": browser.csrf(page), "file": (io.BytesIO(receipt_bytes), "r.json")},
        content_type="multipart/form-data",
    )
    assert again.status_code == 409


def test_an_independent_hpke_opens_a_package_the_running_hub_exported(app):
    """pyhpke, following only schemas/README.md, opens what `hub package export` writes.

    X25519 keys: pyhpke 0.6 has no ML-KEM-768+X25519 KEM (see schemas/README.md)."""
    pytest.importorskip("pyhpke")
    from hub.crypto.keyring import Keyring
    from hub.crypto.sealing import SUITE_X25519
    from tests.crypto.test_crypto_package import independent_open

    Keyring(app.config["HUB"].keys_dir, kdf=app_keyring.keyring().kdf, enc_suite=SUITE_X25519).init(
        ["QB", "KM", "SV"], app.config["HUB"].key_passphrase
    )
    qb = user_actor("qb.interop", "QB")
    exchange = send_exchange(qb)
    attachments.add(qb, exchange.id, filename="n.txt", data=f"att {MARKER}\n".encode())
    text = packages.export(qb, exchange.id, "KM").text
    km_private = app_keyring.private_enc("KM", 1).private_bytes()
    qb_public = app_keyring.signing_public("QB", 1).public_bytes_raw()
    index, body, attachment = independent_open(text, km_private, qb_public)
    index = json.loads(index)
    assert index["format"] == "blo-hub-exchange-bundle"
    assert index["exchanges"][0]["handling"] == "H2"
    assert MARKER in json.loads(body)["body"]
    header, _, data = attachment.partition(b"\n")
    assert json.loads(header)["filename"] == "n.txt"
    assert MARKER.encode() in data


def test_a_hub_does_not_import_its_own_package(app):
    qb = user_actor("qb.self", "QB")
    text = packages.export(qb, send_exchange(qb).id, "KM").text
    before = counts()
    with pytest.raises(OperationError, match="exported by this hub"):
        packages.import_package(SYSTEM, text)
    assert counts() == before


def test_supervisors_read_the_package_page_but_do_not_export(app, browser):
    qb = user_actor("qb.officer9", "QB")
    exchange = send_exchange(qb)
    exchange_id = exchange.id
    supervisor = accounts.add_user(
        SYSTEM, username="qb.sup9", password=PASSWORD, organisation_code="QB", role="supervisor"
    )
    with pytest.raises(OperationError):
        packages.export(Actor.for_user(supervisor), exchange_id, "KM")
    db.session.commit()
    browser.login("qb.sup9")
    page = f"/packages/exchange/{exchange_id}"
    shown = browser.client.get(page)
    assert shown.status_code == 200
    assert "/export" not in shown.get_data(as_text=True)
    refused = browser.client.post(f"{page}/export", data={"csrf_token": browser.csrf(page)})
    assert refused.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(ExportedPackage)) == 0
