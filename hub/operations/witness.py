"""This hub as its peers' witness (C2SP tlog-witness): it cosigns the checkpoints of the
agreement logs it shares with a peer, once each is shown consistent with the newest
one it cosigned for that peer and origin, and refuses a history that was rewritten.

``POST /peer/v1/add-checkpoint`` is signed like the inbox (hub.operations.inbox
authenticate: 401/403 first, nothing stored). Then, in one unit of work:

1. the body is an add-checkpoint request (hub.audit.cosignature): else 400;
2. the origin names an agreement's log both hubs are party to (one of the peer's
   organisations and one of ours): else 404;
3. the checkpoint is signed by a checkpoint key confirmed for that peer
   (:func:`confirm_key`, `hub peer checkpoint-key`): else 403;
4. old size <= checkpoint size: else 400; old size = the size we cosigned last for
   that peer and origin (0 at first): else 409 with our size (text/x.tlog.size);
   the same size with another root: 409; the consistency proof from our root to
   the new one: else 422;
5. the new (size, root, note) is stored and answered with our cosignature.

Both hubs keep a log of the same agreement under the same origin, so the state is
per (peer, origin). The state row is locked (PostgreSQL) or the transaction is
IMMEDIATE (SQLite), so the size check and the update are one step. Every refusal
past step 1 is kept (witness_refusals) and audited in the hub log, as is every
cosignature: not in the agreement's log, or each cosignature would make a new
checkpoint for the other side to cosign, back and forth.

The witness key is the hub key that signs our own checkpoints, as the cosigner
``blo-hub-witness-v<N>`` (type 0x04 cosignatures sign a message that starts with
``cosignature/v1``, never a checkpoint's origin; see hub.audit.cosignature).
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hub.audit import checkpoints, merkle, note
from hub.audit import cosignature as cs
from hub.crypto.peer_request import Headers
from hub.errors import ValidationFailed
from hub.extensions import db
from hub.models import Agreement, Organisation, Peer, PeerCheckpointKey, WitnessedCheckpoint
from hub.models.audit import HUB_LOG
from hub.models.base import utcnow
from hub.models.witness import REFUSED_BY_US, WitnessRefusal
from hub.operations import audit, inbox, peers
from hub.operations.actor import Actor
from hub.operations.unit import operation

ADD_CHECKPOINT_PATH: Final = "/peer/v1/add-checkpoint"
WITNESS_NAME_PREFIX: Final = "blo-hub-witness-v"
_KEY_NAME: Final = re.compile(r"^blo-hub-audit-v([1-9][0-9]{0,5})$")


@dataclass(frozen=True)
class WitnessAnswer:
    """What the endpoint answers: status, body, Content-Type."""

    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    code: str = "cosigned"


def witness_name(key_name: str) -> str:
    """The cosigner name that goes with a hub checkpoint key name (same key, same version)."""
    match = _KEY_NAME.match(key_name)
    if match is None:
        raise ValueError(f"not a hub checkpoint key name: {key_name!r}")
    return WITNESS_NAME_PREFIX + match[1]


def fingerprint(vkey: str) -> str:
    """SHA-256 of the vkey's raw public key, hex: what administrators read out."""
    _name, key = note.parse_vkey(vkey)
    return hashlib.sha256(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()


def own_fingerprints() -> list[tuple[str, str]]:
    """(vkey, fingerprint) of this hub's checkpoint keys, for `hub audit vkey`."""
    return [(vkey, fingerprint(vkey)) for vkey in checkpoints.vkeys()]


# --- confirming a peer's checkpoint key ------------------------------------------


@operation
def confirm_key(actor: Actor, peer_name: str, vkey: str) -> PeerCheckpointKey:
    """Pin a peer's checkpoint key (its hub key), confirmed by its fingerprint."""
    peer = peers.get(actor, peer_name)
    try:
        name, _key = note.parse_vkey(vkey.strip())
    except note.NoteError as exc:
        raise ValidationFailed(
            {"vkey": [_l("Not a verifier key: %(reason)s", reason=str(exc))]}
        ) from exc
    if _KEY_NAME.match(name) is None:
        raise ValidationFailed({"vkey": [_l("Not the checkpoint key of a BLO hub.")]})
    if vkey.strip() in checkpoints.vkeys():
        raise ValidationFailed({"vkey": [_l("This is this hub's own key.")]})
    fp = fingerprint(vkey.strip())
    row: PeerCheckpointKey | None = db.session.scalar(
        select(PeerCheckpointKey).where(
            PeerCheckpointKey.peer_id == peer.id, PeerCheckpointKey.fingerprint == fp
        )
    )
    if row is not None:
        return row
    row = PeerCheckpointKey(peer_id=peer.id, key_name=name, vkey=vkey.strip(), fingerprint=fp)
    db.session.add(row)
    db.session.flush()
    audit.record(
        "peer_checkpoint_key_confirmed",
        actor=actor,
        target_type="peer",
        target_id=peer.name,
        logs=peers._logs_for(peer.org_codes),
        details={"key_name": name, "fingerprint": fp},
    )
    return row


def peer_keys(peer_id: int) -> list[tuple[str, Ed25519PublicKey]]:
    """(key name, public key) of every checkpoint key confirmed for the peer."""
    rows = db.session.scalars(select(PeerCheckpointKey).where(PeerCheckpointKey.peer_id == peer_id))
    return [note.parse_vkey(r.vkey) for r in rows]


def shared_log(peer: Peer, origin: str) -> Agreement | None:
    """The agreement whose log ``origin`` is, if one of the peer's organisations and one
    of ours are both party to it."""
    name = checkpoints.log_name_of(origin)
    if name is None:
        return None
    agreement = db.session.scalar(select(Agreement).where(Agreement.code == name))
    if agreement is None:
        return None
    parties = {o.code for o in agreement.parties}
    ours = peers.own_organisations()
    return agreement if parties & set(peer.org_codes) and parties & ours else None


def shared_agreements(peer: Peer) -> list[Agreement]:
    """The agreements both this hub and the peer are party to (their logs are witnessed)."""
    ours = peers.own_organisations()
    rows = db.session.scalars(
        select(Agreement)
        .join(Agreement.parties)
        .where(Organisation.code.in_(peer.org_codes))
        .order_by(Agreement.code)
    ).unique()
    return [a for a in rows if {o.code for o in a.parties} & ours]


# --- the endpoint's work -----------------------------------------------------------


def add_checkpoint(method: str, path: str, headers: Headers, body: bytes) -> WitnessAnswer:
    """Authenticate the peer's request, then witness its checkpoint."""
    peer, org = inbox.authenticate(method, path, headers, body)  # raises InboxRefused
    return _witness(peer.id, org, body)


@operation
def _witness(peer_id: int, org: str, body: bytes) -> WitnessAnswer:
    peer = db.session.get_one(Peer, peer_id)  # authenticated a moment ago; never deleted
    try:
        request = cs.parse_add_checkpoint(body)
    except cs.WitnessFormatError as exc:
        return WitnessAnswer(400, f"{exc}\n".encode(), code="malformed")
    cp = request.checkpoint
    refuse = _Refusal(peer, org, cp.origin, request.old_size, cp.size)
    if shared_log(peer, cp.origin) is None:
        return refuse(404, "unknown_log", "this hub witnesses no log of that origin for you")
    keys = peer_keys(peer.id)
    if not keys:
        return refuse(403, "unknown_key", "no checkpoint key of yours is confirmed here")
    if not _signed_by_one_of(request.note_text, keys, cp.origin):
        return refuse(403, "unknown_key", "not signed by a checkpoint key confirmed for you")
    if request.old_size > cp.size:
        return refuse(400, "malformed", "the old size is larger than the checkpoint's")
    state = db.session.scalar(
        select(WitnessedCheckpoint)
        .where(WitnessedCheckpoint.peer_id == peer.id, WitnessedCheckpoint.origin == cp.origin)
        .with_for_update()
    )
    known = state.size if state is not None else 0
    if request.old_size != known:
        return refuse(
            409,
            "conflict",
            f"the old size {request.old_size} is not {known}, the size cosigned last",
            answer=cs.format_size(known),
        )
    if state is not None and cp.size == state.size and cp.root != state.root:
        return refuse(
            409,
            "conflict",
            f"another root for size {cp.size} than the one cosigned: history rewritten",
            answer=cs.format_size(known),
        )
    if state is not None and known > 0:
        try:
            merkle.verify_consistency(known, cp.size, request.proof, state.root, cp.root)
        except merkle.ProofError as exc:
            return refuse(
                422,
                "inconsistent",
                f"not consistent with size {known} cosigned before ({exc}): history rewritten",
            )
    name, private = checkpoints.signing_key()
    now = int(time.time())
    line = cs.cosign(request.note_text, private, witness_name(name), now)
    if state is None:
        # Two first requests for one origin at once (two `hub serve` of the peer): the
        # second insert fails in its savepoint and is answered as any stale size.
        try:
            with db.session.begin_nested():
                state = WitnessedCheckpoint(
                    peer_id=peer.id, origin=cp.origin, size=cp.size, root=cp.root,
                    note=request.note_text, cosigned_at=utcnow(),
                )  # fmt: skip
                db.session.add(state)
        except IntegrityError:
            known = db.session.scalar(
                select(WitnessedCheckpoint.size).where(
                    WitnessedCheckpoint.peer_id == peer.id, WitnessedCheckpoint.origin == cp.origin
                )
            )
            return WitnessAnswer(
                409, cs.format_size(int(known or 0)), cs.SIZE_CONTENT_TYPE, "conflict"
            )
    else:
        state.size, state.root, state.note = cp.size, cp.root, request.note_text
        state.cosigned_at = utcnow()
    audit.record(
        "checkpoint_cosigned",
        actor=inbox.peer_actor(peer, org),
        target_type="peer",
        target_id=peer.name,
        logs=[HUB_LOG],
        details={"origin": cp.origin, "old_tree_size": request.old_size, "tree_size": cp.size},
    )
    return WitnessAnswer(200, line.encode())


def _signed_by_one_of(
    note_text: str, keys: list[tuple[str, Ed25519PublicKey]], origin: str
) -> bool:
    for key in keys:
        try:
            note.verify_checkpoint(note_text, key, origin=origin)
        except note.NoteError:
            continue
        return True
    return False


@dataclass
class _Refusal:
    peer: Peer
    org: str
    origin: str
    old_size: int
    size: int

    def __call__(
        self, status: int, code: str, reason: str, *, answer: bytes | None = None
    ) -> WitnessAnswer:
        """Keep and audit the refusal (the unit commits it), and say why to the peer."""
        db.session.add(
            WitnessRefusal(
                peer_id=self.peer.id,
                role=REFUSED_BY_US,
                origin=self.origin[:128],
                status=status,
                code=code,
                reason=reason[:500],
                old_size=self.old_size,
                size=self.size,
            )
        )
        audit.record(
            "checkpoint_refused",
            actor=inbox.peer_actor(self.peer, self.org),
            target_type="peer",
            target_id=self.peer.name,
            logs=[HUB_LOG],
            details={
                "origin": self.origin[:128],
                "status": status,
                "reason": code,
                "old_tree_size": self.old_size,
                "tree_size": self.size,
            },
        )
        if answer is not None:
            return WitnessAnswer(status, answer, cs.SIZE_CONTENT_TYPE, code)
        return WitnessAnswer(status, f"{reason}\n".encode(), code=code)


@dataclass(frozen=True)
class WitnessingView:
    """What the administrators' page of a peer shows about witnessing."""

    keys: list[PeerCheckpointKey]
    witnessed: list[WitnessedCheckpoint]
    refusals: list[WitnessRefusal]


def admin_view(actor: Actor, peer_name: str, limit: int = 20) -> WitnessingView:
    """The peer's confirmed checkpoint keys, its logs this hub cosigns, the newest refusals
    (by us of its checkpoints, and by it of ours)."""
    peer = peers.get(actor, peer_name)  # administrators only
    keys = db.session.scalars(
        select(PeerCheckpointKey)
        .where(PeerCheckpointKey.peer_id == peer.id)
        .order_by(PeerCheckpointKey.id)
    ).all()
    witnessed = db.session.scalars(
        select(WitnessedCheckpoint)
        .where(WitnessedCheckpoint.peer_id == peer.id)
        .order_by(WitnessedCheckpoint.origin)
    ).all()
    refusals = db.session.scalars(
        select(WitnessRefusal)
        .where(WitnessRefusal.peer_id == peer.id)
        .order_by(WitnessRefusal.at.desc(), WitnessRefusal.id.desc())
        .limit(limit)
    ).all()
    return WitnessingView(list(keys), list(witnessed), list(refusals))
