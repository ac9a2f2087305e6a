"""`hub audit verify` checks what partner hubs cosigned: a kept cosignature that does not
verify, or a cosigned size whose root the log no longer gives (history rewritten),
fails the run, naming the log and the peer."""

from __future__ import annotations

import hashlib

from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from hub.audit import checkpoints, note
from hub.audit import cosignature as cs
from hub.extensions import db
from hub.models import AuditLog, Checkpoint, Cosignature, Peer
from hub.models.base import utcnow
from hub.operations import audit, cosigning
from hub.operations.actor import SYSTEM
from hub.operations.unit import unit_of_work
from tests.operations.test_witness import KM_HUB, _trust, km  # noqa: F401 (km: the fixture)

LOG = "QB-KM-MOU"


def _entries(n: int) -> int:
    with unit_of_work():
        for i in range(n):
            audit.record("test_entry", actor=SYSTEM, target_type="hub", target_id=i, logs=[LOG])
    return db.session.scalar(select(AuditLog.id).where(AuditLog.name == LOG))


def _keep(checkpoint: Checkpoint, key=KM_HUB, name="blo-hub-witness-v1") -> None:
    peer = db.session.scalar(select(Peer))
    line = cs.cosign(checkpoint.note, key, name, 1_800_000_000)
    db.session.add(
        Cosignature(
            log_id=checkpoint.log_id,
            checkpoint_id=checkpoint.id,
            peer_id=peer.id,
            size=checkpoint.size,
            root=checkpoint.root,
            key_name=name,
            cosigned_at=utcnow(),
            line=line,
        )
    )
    db.session.commit()


def _verify(app):
    return CliRunner().invoke(app.cli, ["audit", "verify"])


def test_kept_cosignatures_verify_and_a_bad_one_is_named(app, km):  # noqa: F811
    _trust(app)
    log_id = _entries(3)
    with unit_of_work():
        checkpoint = checkpoints.sign_head(db.session(), log_id)
    _keep(checkpoint)
    result = _verify(app)
    assert result.exit_code == 0, (result.output, result.stderr, result.exception)
    assert "cosignatures: 1 from partner hubs verify" in result.output
    assert cosigning.check_cosignatures(LOG) == (1, [])
    # A cosignature by a key nobody confirmed for km-hub: named, and the run fails.
    db.session.execute(Cosignature.__table__.delete())
    other = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"not km").digest())
    _keep(db.session.get(Checkpoint, checkpoint.id), key=other)
    result = _verify(app)
    assert result.exit_code == 1
    size = checkpoint.size
    assert f"{LOG}: the cosignature by km-hub at size {size} does not verify" in result.output


def test_a_cosigned_root_the_log_no_longer_gives_is_history_rewritten(app, km):  # noqa: F811
    _trust(app)
    log_id = _entries(5)
    with unit_of_work():
        checkpoints.sign_head(db.session(), log_id)
    # What km-hub cosigned at size 3 had another root: this log's history changed since.
    name, private = checkpoints.signing_key()
    forged_root = hashlib.sha256(b"the history before").digest()
    text = note.sign_checkpoint(checkpoints.origin_for(LOG), 3, forged_root, private, name)
    forged = Checkpoint(log_id=log_id, size=3, root=forged_root, note=text)
    db.session.add(forged)
    db.session.commit()
    _keep(forged)
    checked, problems = cosigning.check_cosignatures(LOG)
    assert checked == 1
    [problem] = problems
    assert (problem.log, problem.peer, problem.size) == (LOG, "km-hub", 3)
    assert "history rewritten" in problem.message
    result = _verify(app)
    assert result.exit_code == 1
    assert "km-hub cosigned size 3 with another root" in result.output
