"""This hub as a peer's witness, in one process: add-checkpoint signed like the inbox, the
peer's checkpoint key confirmed first, consistency with what was cosigned, and every
refusal (C2SP tlog-witness status codes) kept and audited."""

from __future__ import annotations

import hashlib
import time

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from hub import app_keyring
from hub.audit import checkpoints, merkle, note
from hub.audit import cosignature as cs
from hub.crypto.keyring import Keyring
from hub.crypto.peer_request import sign_request
from hub.extensions import db
from hub.models import AuditEntry, WitnessedCheckpoint, WitnessRefusal
from hub.operations import keys as key_ops
from hub.operations import peers, witness
from hub.operations.actor import SYSTEM

PATH = witness.ADD_CHECKPOINT_PATH
ORIGIN = checkpoints.origin_for("QB-KM-MOU")
# KM's hub key (what signs KM's checkpoints), made here as KM's hub would.
KM_HUB = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"km hub key").digest())
KM_KEY_NAME = "blo-hub-audit-v1"


@pytest.fixture
def km(app, tmp_path):
    """QB lives here; KM is a registered peer whose signing key signs its requests."""
    key_ops.init_keys(SYSTEM, ["QB"])
    ring = Keyring(tmp_path / "km-keys", kdf=app_keyring.keyring().kdf)
    ring.init(["KM"], "km passphrase")
    key_ops.import_public(SYSTEM, ring.export_public("KM"))
    fps = [k.fingerprint for k in ring.list_keys("KM") if k.kind == "sign"]
    peers.add(
        SYSTEM,
        peers.NewPeer(
            name="km-hub", url="http://127.0.0.1:5999", organisations=["KM"], fingerprints=fps
        ),
    )
    return ring.load_private("KM", "sign", 1, "km passphrase")


def _trust(app) -> str:
    vkey = note.format_vkey(KM_KEY_NAME, KM_HUB.public_key())
    result = CliRunner().invoke(app.cli, ["witness", "trust", "km-hub", vkey, "--yes"])
    assert result.exit_code == 0, result.output
    assert witness.fingerprint(vkey) in result.output
    return vkey


def _leaves(n: int, tag: bytes = b"") -> list[bytes]:
    return [merkle.leaf_hash(tag + str(i).encode()) for i in range(n)]


def _node(leaves: list[bytes]):
    return lambda level, index: merkle.root(leaves[index << level : (index + 1) << level])


def _checkpoint(leaves: list[bytes], *, origin: str = ORIGIN, key=KM_HUB) -> str:
    return note.sign_checkpoint(origin, len(leaves), merkle.root(leaves), key, KM_KEY_NAME)


def _post(client, signing_key, body: bytes):
    headers = sign_request("POST", PATH, body, signing_key, created=int(time.time()))
    return client.post(PATH, data=body, headers=headers)


def _add(client, signing_key, old: int, leaves: list[bytes], old_leaves=None, **kw):
    proof = []
    if 0 < old < len(leaves):
        proof = merkle.consistency_proof(old, len(leaves), _node(leaves))
    body = cs.build_add_checkpoint(old, proof, _checkpoint(leaves, **kw))
    return _post(client, signing_key, body)


def _refusals() -> list[tuple[int, str]]:
    return [(r.status, r.code) for r in db.session.scalars(select(WitnessRefusal))]


def test_a_peer_checkpoint_is_cosigned_then_extended(app, client, km):
    _trust(app)
    first = _leaves(3)
    answer = _add(client, km, 0, first)
    assert answer.status_code == 200, answer.data
    line = answer.get_data(as_text=True)
    # The cosignature verifies with this hub's own key, as the witness of that version.
    name, public = next(iter(checkpoints.public_keys().items()))
    [cosig] = cs.verify_cosignatures(_checkpoint(first), line, witness.witness_name(name), public)
    assert abs(cosig.timestamp - time.time()) < 60
    state = db.session.scalar(select(WitnessedCheckpoint))
    assert (state.origin, state.size, state.root) == (ORIGIN, 3, merkle.root(first))
    # Extended with a proof from 3 to 7: cosigned, the state follows.
    grown = first + _leaves(4, b"more")
    assert _add(client, km, 3, grown).status_code == 200
    db.session.expire_all()
    assert db.session.scalar(select(WitnessedCheckpoint.size)) == 7
    # The same head again (old size = size, same root): cosigned again.
    assert _add(client, km, 7, grown).status_code == 200
    assert _refusals() == []
    actions = db.session.scalars(
        select(AuditEntry.action).where(AuditEntry.action == "checkpoint_cosigned")
    ).all()
    assert len(actions) == 3


def test_a_rewritten_history_is_refused_and_the_refusal_kept(app, client, km):
    _trust(app)
    assert _add(client, km, 0, _leaves(5)).status_code == 200
    # Another history of 8 entries whose first 5 differ: the proof cannot link them.
    rewritten = _leaves(8, b"forged")
    answer = _add(client, km, 5, rewritten)
    assert answer.status_code == 422
    assert "history rewritten" in answer.get_data(as_text=True)
    # The same size with another root: 409.
    answer = _add(client, km, 5, _leaves(5, b"forged"))
    assert answer.status_code == 409
    assert answer.content_type == "text/x.tlog.size"
    assert answer.data == b"5\n"
    # The stale size the log thinks we hold: 409 with ours.
    answer = _add(client, km, 0, _leaves(6))
    assert (answer.status_code, answer.data) == (409, b"5\n")
    # Old size larger than the checkpoint: 400.
    assert _add(client, km, 5, _leaves(4)).status_code == 400
    shown = CliRunner().invoke(app.cli, ["witness", "status", "km-hub"]).output
    assert "422 inconsistent" in shown
    assert f"cosigned   {ORIGIN} at 5 entries" in shown
    assert _refusals() == [
        (422, "inconsistent"),
        (409, "conflict"),
        (409, "conflict"),
        (400, "malformed"),
    ]
    db.session.expire_all()
    assert db.session.scalar(select(WitnessedCheckpoint.size)) == 5  # nothing moved
    audited = db.session.scalar(
        select(func.count()).where(AuditEntry.action == "checkpoint_refused")
    )
    assert audited == 4


def test_keys_and_logs_the_witness_does_not_know(app, client, km):
    # No checkpoint key confirmed for the peer yet: 403.
    answer = _add(client, km, 0, _leaves(2))
    assert answer.status_code == 403
    _trust(app)
    # Signed by another key than the confirmed one: 403.
    other = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"other").digest())
    assert _add(client, km, 0, _leaves(2), key=other).status_code == 403
    # A log the two hubs do not share (QB-SV-MOU: KM is no party), or no agreement's: 404.
    for origin in (checkpoints.origin_for("QB-SV-MOU"), "example.com/log", ORIGIN + "-X"):
        assert _add(client, km, 0, _leaves(2), origin=origin).status_code == 404, origin
    assert [s for s, _c in _refusals()] == [403, 403, 404, 404, 404]
    # Not an add-checkpoint body: 400, nothing kept (no origin to keep it under).
    assert _post(client, km, b"old 1\n").status_code == 400
    assert db.session.scalar(select(func.count()).select_from(WitnessedCheckpoint)) == 0


def test_unsigned_or_unknown_requests_are_refused_before_anything(app, client, km, tmp_path):
    _trust(app)
    body = cs.build_add_checkpoint(0, [], _checkpoint(_leaves(2)))
    answer = client.post(PATH, data=body)
    assert answer.status_code == 401
    stranger = Keyring(tmp_path / "sv", kdf=app_keyring.keyring().kdf)
    stranger.init(["SV"], "sv passphrase")
    key = stranger.load_private("SV", "sign", 1, "sv passphrase")
    assert _post(client, key, body).status_code == 401
    assert db.session.scalar(select(func.count()).select_from(WitnessedCheckpoint)) == 0
    assert _refusals() == []


def test_trusting_a_key_is_checked(app, km):
    runner = CliRunner()
    bad = runner.invoke(app.cli, ["witness", "trust", "km-hub", "not-a-vkey", "--yes"])
    assert bad.exit_code != 0
    own = checkpoints.vkeys()[-1]
    refused = runner.invoke(app.cli, ["witness", "trust", "km-hub", own, "--yes"])
    assert refused.exit_code != 0
    assert "own key" in refused.output
    shown = runner.invoke(app.cli, ["witness", "key"])
    assert shown.exit_code == 0
    assert own in shown.output


def test_the_pages_show_what_was_cosigned_and_refused(app, client, km, make_user, browser):
    """Administrators see the peer's keys, its logs cosigned here and every refusal; the
    agreement's compliance page shows the newest checkpoint the partner cosigned."""
    from hub.models import AuditLog, Checkpoint, Cosignature, Peer
    from hub.models.base import utcnow
    from hub.operations import cosigning

    _trust(app)
    assert _add(client, km, 0, _leaves(4)).status_code == 200
    assert _add(client, km, 4, _leaves(9, b"forged")).status_code == 422
    # One of our checkpoints of the agreement's log, cosigned by km-hub, 2 entries ago.
    with app.test_request_context():
        head = db.session.scalar(select(AuditLog).where(AuditLog.name == "QB-KM-MOU"))
        ckpt = checkpoints.sign_head(db.session(), head.id)
        db.session.add(
            Cosignature(
                log_id=head.id, checkpoint_id=ckpt.id, peer_id=db.session.scalar(select(Peer.id)),
                size=ckpt.size, root=ckpt.root, key_name="blo-hub-witness-v1",
                cosigned_at=utcnow(), line=cs.cosign(ckpt.note, KM_HUB, "blo-hub-witness-v1", 1),
            )
        )  # fmt: skip
        db.session.commit()
        [row] = cosigning.witnessed_by("QB-KM-MOU")
        assert (row.peer, row.size, row.behind_entries) == ("km-hub", ckpt.size, 0)
        assert db.session.scalar(select(func.count()).select_from(Checkpoint)) >= 1
    make_user("admin.w", org="QB", role="admin", language="en")
    make_user("qb.sup.w", org="QB", role="supervisor", language="en")
    db.session.commit()
    browser.login("admin.w")
    page = browser.client.get("/admin/peers/km-hub").get_data(as_text=True)
    assert "blo-hub-audit-v1" in page
    assert "history rewritten" in page
    assert ORIGIN in page
    browser.client.post("/logout", data={"csrf_token": browser.csrf("/")})
    browser.login("qb.sup.w")
    shown = browser.client.get("/agreements/QB-KM-MOU/compliance").get_data(as_text=True)
    assert "Co-signed by partner hubs" in shown
    assert "km-hub" in shown
