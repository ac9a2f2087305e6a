"""The peer registry (partner hubs), in one process: add, list, status, remove, and
every refusal naming its field with nothing stored."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from hub import app_keyring
from hub.crypto.keyring import Keyring
from hub.errors import Conflict, Forbidden, ValidationFailed
from hub.extensions import db
from hub.models import AuditEntry, Peer, PeerKey
from hub.operations import keys as key_ops
from hub.operations import peers
from hub.operations.actor import SYSTEM, Actor


@pytest.fixture(autouse=True)
def _request(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


@pytest.fixture
def km_keys(app, tmp_path) -> list[str]:
    """This hub holds QB's keys; KM's public keys come from KM's own keyring."""
    key_ops.init_keys(SYSTEM, ["QB"])
    ring = Keyring(tmp_path / "km-keys", kdf=app_keyring.keyring().kdf)
    ring.init(["KM"], "km passphrase")
    key_ops.import_public(SYSTEM, ring.export_public("KM"))
    return [k.fingerprint for k in ring.list_keys("KM") if k.kind == "sign"]


def new(**extra) -> peers.NewPeer:
    values = dict(name="km-hub", url="http://127.0.0.1:5999/", organisations=["KM"])
    values.update(extra)
    return peers.NewPeer(fingerprints=values.pop("fingerprints"), **values)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_add_list_status_remove(km_keys):
    peer = peers.add(SYSTEM, new(fingerprints=km_keys))
    assert peer.base_url == "http://127.0.0.1:5999"  # trailing slash dropped
    assert peer.org_codes == ["KM"]
    assert [k.fingerprint for k in peer.keys] == km_keys
    assert peers.peer_for_org("KM").name == "km-hub"
    assert peers.peer_for_org("QB") is None
    assert peers.peer_for_fingerprint(km_keys[0]).name == "km-hub"
    [listed] = peers.list_peers(SYSTEM)
    assert (listed.queued, listed.delivered, listed.last_contact) == (0, 0, None)
    assert db.session.scalar(select(AuditEntry.id).where(AuditEntry.action == "peer_added"))
    with pytest.raises(Conflict):
        peers.add(SYSTEM, new(fingerprints=km_keys))
    peers.remove(SYSTEM, "km-hub")
    assert peers.peer_for_org("KM") is None
    assert not peers.status(SYSTEM, "km-hub").peer.active
    with pytest.raises(Conflict):
        peers.remove(SYSTEM, "km-hub")
    # Registered again under the same name: active, one row.
    peers.add(SYSTEM, new(url="http://127.0.0.1:6000", fingerprints=km_keys))
    assert count(Peer) == 1
    assert peers.peer_for_org("KM").base_url == "http://127.0.0.1:6000"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (dict(name="KM HUB"), "name"),
        (dict(url="ftp://hub.example"), "url"),
        (dict(url="http://user:pw@hub.example"), "url"),
        (dict(url="http://hub.example/?q=1"), "url"),
        (dict(organisations=[]), "organisations"),
        (dict(organisations=["ZZ"]), "organisations"),
        (dict(organisations=["QB"]), "organisations"),  # lives here
        (dict(fingerprints=[]), "fingerprints"),
        (dict(fingerprints=["ab" * 32]), "fingerprints"),  # not an imported key
        (dict(fingerprints=["xyz"]), "fingerprints"),
    ],
)
def test_refusals_name_the_field_and_store_nothing(km_keys, change, field):
    before = (count(Peer), count(PeerKey), count(AuditEntry))
    values = dict(fingerprints=km_keys)
    values.update(change)
    with pytest.raises(ValidationFailed) as caught:
        peers.add(SYSTEM, new(**values))
    assert field in caught.value.errors
    assert (count(Peer), count(PeerKey), count(AuditEntry)) == before


def test_an_organisation_lives_on_one_peer(km_keys):
    peers.add(SYSTEM, new(fingerprints=km_keys))
    with pytest.raises(ValidationFailed) as caught:
        peers.add(SYSTEM, new(name="other", fingerprints=km_keys))
    assert "organisations" in caught.value.errors


def test_only_administrators_register_peers(km_keys, make_user):
    officer = Actor.for_user(make_user("qb.peer", org="QB", role="officer"))
    admin = Actor.for_user(make_user("qb.admin", org="QB", role="admin"))
    with pytest.raises(Forbidden):
        peers.add(officer, new(fingerprints=km_keys))
    with pytest.raises(Forbidden):
        peers.list_peers(officer)
    assert peers.add(admin, new(fingerprints=km_keys)).name == "km-hub"


def test_cli_add_shows_the_fingerprints_and_asks(app, km_keys):
    runner = CliRunner()
    cli = app.cli
    refused = runner.invoke(
        cli, ["peer", "add", "km-hub", "--url", "http://127.0.0.1:5999", "--org", "KM"], input="n\n"
    )
    assert refused.exit_code != 0
    assert km_keys[0] in refused.output
    assert count(Peer) == 0
    done = runner.invoke(
        cli, ["peer", "add", "km-hub", "--url", "http://127.0.0.1:5999", "--org", "KM", "--yes"]
    )
    assert done.exit_code == 0, done.output
    listed = runner.invoke(cli, ["peer", "list"])
    assert "km-hub" in listed.output
    assert "queued 0" in listed.output
    shown = runner.invoke(cli, ["peer", "status", "km-hub"])
    assert km_keys[0] in shown.output
    removed = runner.invoke(cli, ["peer", "remove", "km-hub"])
    assert removed.exit_code == 0, removed.output


# --- signed requests (hub.crypto.peer_request) ---------------------------------------


def test_a_signed_request_verifies_and_every_change_is_refused():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from hub.crypto.peer_request import RequestRefused, sign_request, verify_request
    from hub.crypto.sealing import signing_fingerprint

    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    keys = {signing_fingerprint(key.public_key()): key.public_key()}
    body, path, now = b'{"a": 1}', "/peer/v1/inbox", 1_800_000_000
    headers = sign_request("POST", path, body, key, created=now)

    def check(method="POST", p=path, b=body, h=headers, at=now):
        return verify_request(method, p, b, h, keys.get, now=at, skew=300)

    signed = check()
    assert signed.keyid == signing_fingerprint(key.public_key())
    assert check(at=now + 299).nonce == signed.nonce
    refusals = {
        "unsigned": dict(h={}),
        "bad_digest": dict(b=b'{"a": 2}'),
        "bad_signature": dict(p="/peer/v1/hello"),
        "stale": dict(at=now + 301),
        "unknown_key": dict(h=sign_request("POST", path, body, other, created=now)),
        "malformed": dict(h={**headers, "Signature-Input": headers["Signature-Input"] + ";x=1"}),
    }
    refusals["bad_signature_method"] = dict(method="PUT")
    for reason, change in refusals.items():
        with pytest.raises(RequestRefused) as caught:
            check(**change)
        assert caught.value.reason == reason.removesuffix("_method"), reason
    # A fresh nonce every time.
    assert sign_request("POST", path, body, key, created=now)["Signature"] != headers["Signature"]


# --- the outbox, in one process ---------------------------------------------------------


@pytest.fixture
def km_peer(km_keys):
    return peers.add(SYSTEM, new(url=f"http://127.0.0.1:{_free_port()}", fingerprints=km_keys))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_change_for_a_peer_is_queued_in_its_transaction(app, km_peer, make_user):
    from hub.models import ExportedPackage, OutboxItem
    from hub.operations import exchanges, outbox
    from hub.operations.exchanges import NewExchange
    from hub.operations.unit import unit_of_work

    woken: list[int] = []  # the delivery worker's wake-up: after a commit that queued
    outbox.on_commit_of_queued(app, lambda: woken.append(1))
    qb = Actor.for_user(make_user("qb.out", org="QB"))
    db.session.commit()
    values = dict(
        agreement="QB-KM-MOU", recipient="KM", kind="request", subject="Outbox check",
        body="Nội dung", classification="confidential", reliability="B", credibility=2,
        handling="H0",
    )  # fmt: skip

    # Rolled back with the change: nothing queued, nothing exported.
    def send_then_fail() -> None:
        with unit_of_work():
            exchanges.send(qb, NewExchange(**values))
            raise RuntimeError("the change fails after the send")

    with pytest.raises(RuntimeError):
        send_then_fail()
    assert (count(OutboxItem), count(ExportedPackage)) == (0, 0)
    assert woken == []
    sent = exchanges.send(qb, NewExchange(**values))
    assert woken == [1]
    [row] = db.session.scalars(select(OutboxItem)).all()
    assert (row.kind, row.status, row.exchange_id, row.recipient_org) == (
        "exchange", "queued", sent.id, "KM",
    )  # fmt: skip
    # The same record `hub package export` leaves.
    exported = db.session.scalar(select(ExportedPackage))
    assert exported.package_sha256 == row.package_sha256
    assert outbox.delivery_state(sent)["state"] == "queued"
    # To an organisation on this hub (SV has no peer): nothing queued.
    exchanges.send(qb, NewExchange(**{**values, "agreement": "QB-SV-MOU", "recipient": "SV"}))
    assert count(OutboxItem) == 1
    assert woken == [1]


def test_delivery_to_a_peer_that_does_not_answer_backs_off(km_peer, make_user):
    from hub.models import OutboxItem
    from hub.operations import delivery, exchanges
    from hub.operations.exchanges import NewExchange

    qb = Actor.for_user(make_user("qb.out", org="QB"))
    for n in range(2):
        exchanges.send(
            qb,
            NewExchange(
                agreement="QB-KM-MOU", recipient="KM", kind="alert", subject=f"Alert {n}",
                body="x", classification="restricted", reliability="C", credibility=3,
                handling="H0",
            ),
        )  # fmt: skip
    result = delivery.deliver_once()
    # The first fails; the second waits behind it (a peer gets them in order).
    assert (result.delivered, result.failed, result.left) == (0, 1, 2)
    first, second = db.session.scalars(select(OutboxItem).order_by(OutboxItem.id)).all()
    assert (first.attempts, second.attempts) == (1, 0)
    assert "Connection" in first.last_error
    assert first.next_attempt_at > first.last_attempt_at
    assert peers.status(SYSTEM, "km-hub").last_error
    # Not due yet: the next pass leaves both alone; --all tries again, and backs off longer.
    assert delivery.deliver_once().failed == 0
    wait = first.next_attempt_at - first.last_attempt_at
    delivery.deliver_once(include_waiting=True)
    db.session.refresh(first)
    assert first.attempts == 2
    assert first.next_attempt_at - first.last_attempt_at > wait


def test_removing_a_peer_stops_its_queue(km_peer, make_user):
    from hub.operations import delivery, exchanges
    from hub.operations.exchanges import NewExchange

    qb = Actor.for_user(make_user("qb.out", org="QB"))
    exchanges.send(
        qb,
        NewExchange(
            agreement="QB-KM-MOU", recipient="KM", kind="alert", subject="Alert",
            body="x", classification="restricted", reliability="C", credibility=3, handling="H0",
        ),
    )  # fmt: skip
    peers.remove(SYSTEM, "km-hub")
    result = delivery.deliver_once(include_waiting=True)
    assert (result.delivered, result.failed) == (0, 0)
    assert peers.status(SYSTEM, "km-hub").queued == 1


# --- the pages --------------------------------------------------------------------------


def test_admin_pages_list_register_show_and_remove(km_keys, make_user, browser):
    make_user("admin.peers", org="QB", role="admin", language="en")
    db.session.commit()
    browser.login("admin.peers")
    page = browser.client.get("/admin/peers/")
    assert page.status_code == 200
    token = browser.csrf("/admin/peers/new")
    shown = browser.client.get("/admin/peers/new").get_data(as_text=True)
    assert km_keys[0] in shown  # the imported keys, to compare with what is read out
    refused = browser.client.post(
        "/admin/peers/new",
        data={"csrf_token": token, "name": "km-hub", "url": "ftp://x", "organisations": "KM",
              "fingerprints": km_keys[0]},
    )  # fmt: skip
    assert refused.status_code == 422
    assert "web address" in refused.get_data(as_text=True)
    assert count(Peer) == 0
    done = browser.client.post(
        "/admin/peers/new",
        data={"csrf_token": token, "name": "km-hub", "url": "http://127.0.0.1:5999",
              "organisations": "KM", "fingerprints": "\n".join(km_keys)},
    )  # fmt: skip
    assert done.status_code == 302
    peer_page = browser.client.get("/admin/peers/km-hub").get_data(as_text=True)
    assert km_keys[0] in peer_page
    assert "km-hub" in browser.client.get("/admin/peers/").get_data(as_text=True)
    browser.client.post("/admin/peers/km-hub/remove", data={"csrf_token": token})
    db.session.remove()
    assert not peers.status(SYSTEM, "km-hub").peer.active


def test_officers_do_not_see_the_peer_pages(km_keys, make_user, browser):
    make_user("qb.officer.p", org="QB", role="officer")
    db.session.commit()
    browser.login("qb.officer.p")
    assert browser.client.get("/admin/peers/").status_code == 403


def test_the_exchange_page_says_queued(km_peer, make_user, browser):
    from hub.operations import exchanges
    from hub.operations.exchanges import NewExchange

    user = make_user("qb.view", org="QB", language="en")
    sent = exchanges.send(
        Actor.for_user(user),
        NewExchange(
            agreement="QB-KM-MOU", recipient="KM", kind="alert", subject="Alert",
            body="x", classification="restricted", reliability="C", credibility=3, handling="H0",
        ),
    )  # fmt: skip
    exchange_id = sent.id
    db.session.commit()
    browser.login("qb.view")
    html = browser.client.get(f"/exchanges/{exchange_id}").get_data(as_text=True)
    assert (
        "Queued for the partner&#39;s hub km-hub." in html
        or "Queued for the partner's hub km-hub." in html
    )
