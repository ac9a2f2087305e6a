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


# --- a peer that refuses a package ----------------------------------------------------


@pytest.fixture
def answering_peer(km_keys):
    """A real HTTP server standing for KM's hub, answering each POST with the next status
    of ``answers`` (then 503), as the inbox answers its errors."""
    import http.server
    import json
    import threading

    answers: list[int] = []

    class Inbox(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status = answers.pop(0) if answers else 503
            body = json.dumps(
                {"error": "package_refused", "message": f"the test inbox says {status}"}
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Inbox)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    peers.add(SYSTEM, new(url=f"http://127.0.0.1:{server.server_port}", fingerprints=km_keys))
    try:
        yield answers
    finally:
        server.shutdown()
        server.server_close()


def _alerts(make_user, n: int) -> list[int]:
    from hub.operations import exchanges
    from hub.operations.exchanges import NewExchange

    qb = Actor.for_user(make_user("qb.refused", org="QB", language="en"))
    return [
        exchanges.send(
            qb,
            NewExchange(
                agreement="QB-KM-MOU", recipient="KM", kind="alert", subject=f"Alert {i}",
                body="x", classification="restricted", reliability="C", credibility=3,
                handling="H0",
            ),
        ).id
        for i in range(n)
    ]  # fmt: skip


def test_which_answers_are_refusals():
    from hub.operations.delivery import is_refusal

    assert [s for s in (400, 413, 415, 422) if is_refusal(s)] == [400, 413, 415, 422]
    # Keys or registration being fixed, a wrong address, a busy peer, its own failures.
    assert not any(is_refusal(s) for s in (401, 403, 404, 408, 429, 500, 502, 503, 504))


def test_a_refused_package_does_not_block_the_queue(answering_peer, make_user):
    from hub.models import Exchange, OutboxItem
    from hub.operations import delivery, outbox

    ids = _alerts(make_user, 3)
    answering_peer.extend([422, 503])
    result = delivery.deliver_once()
    # The first refused (not retried), the second tried next and failing: the third waits.
    assert (result.delivered, result.failed, result.refused, result.left) == (0, 1, 1, 2)
    first, second, third = db.session.scalars(select(OutboxItem).order_by(OutboxItem.id)).all()
    assert (first.status, second.status, third.status) == ("refused", "queued", "queued")
    assert first.last_error == "HTTP 422 package_refused: the test inbox says 422"
    assert (second.attempts, third.attempts) == (1, 0)
    state = outbox.delivery_state(db.session.get(Exchange, ids[0]))
    assert (state["state"], state["refused"], state["refused_kind"]) == ("refused", 1, "exchange")
    assert "422" in state["refused_answer"]
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "peer_package_refused"))
    assert entry is not None
    assert entry.target_id == str(ids[0])
    status = peers.status(SYSTEM, "km-hub")
    assert (status.queued, status.delivered, status.refused) == (2, 0, 1)
    assert peers.status(SYSTEM, "km-hub").last_contact is not None  # it answered
    # Refused packages are never tried again on their own, even with --all.
    answering_peer.extend([503])
    again = delivery.deliver_once(include_waiting=True)
    assert (again.refused, again.failed) == (0, 1)
    db.session.refresh(first)
    assert (first.status, first.attempts) == ("refused", 1)


def test_an_administrator_sends_a_refused_package_again(answering_peer, make_user):
    from hub.errors import NotFound
    from hub.models import OutboxItem
    from hub.operations import delivery

    _alerts(make_user, 1)
    answering_peer.append(422)
    assert delivery.deliver_once().refused == 1
    [row] = db.session.scalars(select(OutboxItem)).all()
    officer = Actor.for_user(make_user("qb.not.admin", org="QB", role="officer"))
    with pytest.raises(Forbidden):
        peers.send_again(officer, "km-hub")
    with pytest.raises(NotFound):
        peers.send_again(SYSTEM, "km-hub", [row.id + 1])
    assert peers.send_again(SYSTEM, "km-hub", [row.id]) == [row.id]
    db.session.refresh(row)
    assert (row.status, row.attempts, row.last_error) == ("queued", 0, None)
    entry = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "peer_package_requeued")
    )
    assert "422" in json_details(entry)["answer"]
    # Nothing refused is left to send again.
    assert peers.send_again(SYSTEM, "km-hub") == []
    # The command line does the same.
    answering_peer.append(422)
    delivery.deliver_once()
    runner = CliRunner()
    shown = runner.invoke(db_app().cli, ["peer", "status", "km-hub"])
    assert "refused       1" in shown.output
    done = runner.invoke(db_app().cli, ["peer", "send-again", "km-hub"])
    assert done.exit_code == 0, done.output
    assert f"#{row.id}" in done.output


def json_details(entry) -> dict:
    from hub.audit.entry import decode_entry

    return decode_entry(entry.leaf_input)["details"]


def db_app():
    from flask import current_app

    return current_app


def _one_refused(answering_peer, make_user) -> int:
    from hub.operations import delivery

    [exchange_id] = _alerts(make_user, 1)
    answering_peer.append(422)
    delivery.deliver_once()
    return exchange_id


def test_the_exchange_page_says_refused(answering_peer, make_user, browser):
    exchange_id = _one_refused(answering_peer, make_user)
    db.session.commit()
    browser.login("qb.refused")
    html = browser.client.get(f"/exchanges/{exchange_id}").get_data(as_text=True)
    assert "Refused by the partner" in html
    assert "the test inbox says 422" in html


def test_the_peer_page_lists_refused_packages_and_sends_them_again(
    answering_peer, make_user, browser
):
    _one_refused(answering_peer, make_user)
    make_user("admin.refused", org="QB", role="admin", language="en")
    db.session.commit()
    browser.login("admin.refused")
    page = browser.client.get("/admin/peers/km-hub").get_data(as_text=True)
    assert "Refused packages" in page
    assert "the test inbox says 422" in page
    listed = browser.client.get("/admin/peers/").get_data(as_text=True)
    assert "Refused packages" in listed
    token = browser.csrf("/admin/peers/km-hub")
    done = browser.client.post("/admin/peers/km-hub/send-again", data={"csrf_token": token})
    assert done.status_code == 302
    db.session.remove()
    assert peers.status(SYSTEM, "km-hub").refused == 0
    assert peers.status(SYSTEM, "km-hub").queued == 1


# --- a peer's keys rotated ---------------------------------------------------------------


@pytest.fixture
def rotated(app, tmp_path, km_keys) -> tuple[str, str]:
    """km-hub registered with KM's first signing key; KM then rotated and its new public
    keys were imported here. (old, new) fingerprints."""
    peers.add(SYSTEM, new(fingerprints=km_keys))
    ring = Keyring(tmp_path / "km-keys", kdf=app_keyring.keyring().kdf)
    ring.rotate("KM", "km passphrase")
    key_ops.import_public(SYSTEM, ring.export_public("KM"))
    fresh = [k.fingerprint for k in ring.list_keys("KM") if k.kind == "sign"]
    [added] = [fp for fp in fresh if fp not in km_keys]
    return km_keys[0], added


def test_a_rotated_key_is_confirmed_then_the_old_one_retired(rotated):
    old, added = rotated
    assert [fp for _o, _v, fp in peers.unconfirmed_keys(SYSTEM, "km-hub")] == [added]
    assert peers.peer_for_fingerprint(added) is None  # not trusted before it is confirmed
    # The last key of an organisation cannot be retired: the peer would be locked out.
    with pytest.raises(Conflict):
        peers.retire_key(SYSTEM, "km-hub", old)
    key = peers.add_key(SYSTEM, "km-hub", added.upper())
    assert (key.org_code, key.key_version) == ("KM", 2)
    assert peers.peer_for_fingerprint(added).name == "km-hub"
    assert peers.unconfirmed_keys(SYSTEM, "km-hub") == []
    peers.retire_key(SYSTEM, "km-hub", old)
    assert peers.peer_for_fingerprint(old) is None  # its requests: 403 unknown_peer
    assert [k.fingerprint for k in peers.get(SYSTEM, "km-hub").keys] == [added]
    actions = db.session.scalars(
        select(AuditEntry.action).where(AuditEntry.action.like("peer_key_%"))
    ).all()
    assert sorted(actions).count("peer_key_added") >= 1
    assert "peer_key_retired" in actions


@pytest.mark.parametrize(
    ("value", "message"),
    [("xyz", "64 hexadecimal"), ("ab" * 32, "import the partner"), (None, "confirmed for")],
)
def test_a_key_is_confirmed_only_when_imported_and_new(rotated, value, message):
    old, _added = rotated
    before = (count(PeerKey), count(AuditEntry))
    with pytest.raises(ValidationFailed) as caught:
        peers.add_key(SYSTEM, "km-hub", value or old)
    assert message in str(caught.value.errors["fingerprint"][0])
    assert (count(PeerKey), count(AuditEntry)) == before


def test_only_administrators_change_a_peers_keys(rotated, make_user):
    old, added = rotated
    officer = Actor.for_user(make_user("qb.keys", org="QB", role="officer"))
    with pytest.raises(Forbidden):
        peers.add_key(officer, "km-hub", added)
    with pytest.raises(Forbidden):
        peers.retire_key(officer, "km-hub", old)


def test_cli_add_key_shows_the_fingerprint_and_asks_then_retires(app, rotated):
    old, added = rotated
    runner = CliRunner()
    refused = runner.invoke(app.cli, ["peer", "add-key", "km-hub"], input="n\n")
    assert refused.exit_code != 0
    assert added in refused.output
    assert peers.unconfirmed_keys(SYSTEM, "km-hub")
    done = runner.invoke(app.cli, ["peer", "add-key", "km-hub"], input="y\n")
    assert done.exit_code == 0, done.output
    retired = runner.invoke(app.cli, ["peer", "retire-key", "km-hub", old])
    assert retired.exit_code == 0, retired.output
    last = runner.invoke(app.cli, ["peer", "retire-key", "km-hub", added])
    assert last.exit_code != 0
    assert "last confirmed signing key" in last.output


def test_the_peer_page_confirms_and_retires_keys(rotated, make_user, browser):
    old, added = rotated
    make_user("admin.keys", org="QB", role="admin", language="en")
    db.session.commit()
    browser.login("admin.keys")
    page = browser.client.get("/admin/peers/km-hub").get_data(as_text=True)
    assert added in page  # shown beside the form, to compare with what is read out
    token = browser.csrf("/admin/peers/km-hub")
    wrong = browser.client.post(
        "/admin/peers/km-hub/keys", data={"csrf_token": token, "fingerprint": "ab" * 32}
    )
    assert wrong.status_code == 302
    db.session.remove()
    assert peers.unconfirmed_keys(SYSTEM, "km-hub")
    browser.client.post(
        "/admin/peers/km-hub/keys", data={"csrf_token": token, "fingerprint": added}
    )
    browser.client.post(f"/admin/peers/km-hub/keys/{old}/retire", data={"csrf_token": token})
    db.session.remove()
    assert [k.fingerprint for k in peers.get(SYSTEM, "km-hub").keys] == [added]
