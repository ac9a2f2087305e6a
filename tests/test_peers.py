"""The peer registry (partner hubs), in one process: add, list, status, remove, and
every refusal naming its field with nothing stored."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from hub.crypto import service
from hub.crypto.keyring import Keyring
from hub.extensions import db
from hub.models import AuditEntry, Peer, PeerKey
from hub.operations import keys as key_ops
from hub.operations import peers
from hub.operations.actor import SYSTEM, Actor
from hub.operations.errors import Conflict, Forbidden, ValidationFailed


@pytest.fixture(autouse=True)
def _request(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


@pytest.fixture
def km_keys(app, tmp_path) -> list[str]:
    """This hub holds QB's keys; KM's public keys come from KM's own keyring."""
    key_ops.init_keys(SYSTEM, ["QB"])
    ring = Keyring(tmp_path / "km-keys", kdf=service.keyring().kdf)
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
