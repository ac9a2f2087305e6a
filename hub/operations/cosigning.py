"""Having this hub's shared agreement logs witnessed by its peers (C2SP tlog-witness,
the client side): each new checkpoint goes to every peer party to that agreement,
with a consistency proof from the size that peer cosigned last, and the cosignature
it answers is verified and kept (table cosignatures).

One pass (:func:`send_once`: `hub witness send`, and the loop `hub serve` starts
beside the delivery loop): per active peer whose checkpoint key is confirmed here
(its cosignatures are verified with it, as ``blo-hub-witness-v<N>``), per agreement
both hubs are party to, the log's newest checkpoint unless that peer cosigned it
already. The request is signed like a delivery (hub.crypto.peer_request) with one
of our organisations' keys; no transaction is open while it is on the wire. A 409
carries the size the witness holds: the request is made again once from that size
(a witness that lost our state, or one that cosigned through another path); a size
larger than ours, a 422 or any other refusal is kept (witness_refusals, role
"log") and audited in the hub log, a repeated one only refreshed.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import Flask
from sqlalchemy import select

from hub import app_keyring
from hub.audit import checkpoints, note, store
from hub.audit import cosignature as cs
from hub.crypto.peer_request import sign_request
from hub.extensions import db
from hub.models import AuditLog, Checkpoint, Cosignature, Peer, WitnessRefusal
from hub.models.audit import HUB_LOG
from hub.models.base import utcnow
from hub.models.witness import REFUSED_BY_PEER
from hub.operations import audit, peers, witness
from hub.operations.actor import SYSTEM
from hub.operations.unit import operation

log = logging.getLogger(__name__)

TIMEOUT: Final = 30
MAX_ANSWER: Final = 64 * 1024


@dataclass(frozen=True)
class Submission:
    """One checkpoint to have one peer cosign; read in a unit that ends before sending."""

    peer_id: int
    peer_name: str
    base_url: str
    signer_org: str
    log_id: int
    checkpoint_id: int
    size: int
    note_text: str
    old_size: int


@dataclass
class SendResult:
    cosigned: int = 0
    refused: int = 0
    unreachable: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    content_type: str


def _post(base_url: str, body: bytes, org: str) -> _Answer:
    """POST an add-checkpoint body to the peer, signed with ``org``'s signing key."""
    _version, key = app_keyring.signing_key(org)
    parts = urlsplit(base_url)
    path = (parts.path.rstrip("/") or "") + witness.ADD_CHECKPOINT_PATH
    headers = sign_request("POST", path, body, key, created=int(time.time()))
    headers.update({"Content-Type": "text/plain; charset=utf-8", "User-Agent": "blo-hub-peer/1"})
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(parts.hostname or "", parts.port, timeout=TIMEOUT)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read(MAX_ANSWER + 1)
        kind = response.getheader("Content-Type", "")
    finally:
        connection.close()
    return _Answer(response.status, raw[:MAX_ANSWER], kind)


def _last_cosigned_size(peer_id: int, log_id: int) -> int:
    size = db.session.scalar(
        select(Cosignature.size)
        .where(Cosignature.peer_id == peer_id, Cosignature.log_id == log_id)
        .order_by(Cosignature.size.desc())
        .limit(1)
    )
    return int(size or 0)


@operation
def pending(peer_name: str | None = None) -> list[Submission]:
    """What the pass sends: each shared log's newest checkpoint not yet cosigned by the peer."""
    query = select(Peer).where(Peer.removed_at.is_(None)).order_by(Peer.name)
    if peer_name is not None:
        query = query.where(Peer.name == peer_name)
    own = peers.own_organisations()
    out = []
    for peer in db.session.scalars(query):
        if not witness.peer_keys(peer.id):
            continue  # its cosignatures could not be verified here
        for agreement in witness.shared_agreements(peer):
            head = db.session.scalar(select(AuditLog).where(AuditLog.name == agreement.code))
            if head is None:
                continue
            newest = checkpoints.newest(db.session(), head.id)
            if newest is None or newest.size == 0:
                continue
            done = db.session.scalar(
                select(Cosignature.id).where(
                    Cosignature.checkpoint_id == newest.id, Cosignature.peer_id == peer.id
                )
            )
            if done is not None:
                continue
            signer = sorted({o.code for o in agreement.parties} & own)[0]
            out.append(
                Submission(
                    peer.id,
                    peer.name,
                    peer.base_url,
                    signer,
                    head.id,
                    newest.id,
                    newest.size,
                    newest.note,
                    _last_cosigned_size(peer.id, head.id),
                )
            )
    return out


@operation
def _body(item: Submission, old_size: int) -> bytes:
    proof = []
    if 0 < old_size < item.size:
        proof = store.consistency(db.session(), item.log_id, old_size, item.size)
    return cs.build_add_checkpoint(old_size, proof, item.note_text)


@operation
def _keep_cosignature(item: Submission, answer: bytes) -> str | None:
    """Verify the answer with the peer's confirmed keys and keep it; None when kept."""
    checkpoint = db.session.get_one(Checkpoint, item.checkpoint_id)
    kept = db.session.scalar(
        select(Cosignature.id).where(
            Cosignature.checkpoint_id == item.checkpoint_id, Cosignature.peer_id == item.peer_id
        )
    )
    if kept is not None:
        return None  # another process of this hub kept it a moment ago
    try:
        text = answer.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    found: list[cs.Cosignature] = []
    reasons = []
    for key_name, public in witness.peer_keys(item.peer_id):
        try:
            found = cs.verify_cosignatures(
                item.note_text, text, witness.witness_name(key_name), public
            )
            break
        except (cs.WitnessFormatError, ValueError) as exc:
            reasons.append(str(exc))
    if not found:
        return "the answer carries no valid cosignature: " + "; ".join(reasons)
    cosig = found[0]
    db.session.add(
        Cosignature(
            log_id=item.log_id,
            checkpoint_id=item.checkpoint_id,
            peer_id=item.peer_id,
            size=checkpoint.size,
            root=checkpoint.root,
            key_name=cosig.name,
            cosigned_at=datetime.fromtimestamp(cosig.timestamp, UTC),
            line=cosig.line,
        )
    )
    audit.record(
        "checkpoint_cosignature_received",
        actor=SYSTEM,
        target_type="peer",
        target_id=item.peer_name,
        logs=[HUB_LOG],
        details={"log": checkpoints.log_name_of(_origin(item)), "tree_size": checkpoint.size},
    )
    return None


def _origin(item: Submission) -> str:
    return note.parse_checkpoint(item.note_text).origin


@operation
def _keep_refusal(item: Submission, old_size: int, status: int, code: str, reason: str) -> None:
    """A refusal by the peer, kept once per (peer, origin, size, code) and audited."""
    origin = _origin(item)
    same = db.session.scalar(
        select(WitnessRefusal)
        .where(
            WitnessRefusal.peer_id == item.peer_id,
            WitnessRefusal.role == REFUSED_BY_PEER,
            WitnessRefusal.origin == origin,
        )
        .order_by(WitnessRefusal.id.desc())
        .limit(1)
    )
    if same is not None and (same.size, same.code, same.old_size) == (item.size, code, old_size):
        same.at = utcnow()  # the same answer again: seen, not a new event
        return
    db.session.add(
        WitnessRefusal(
            peer_id=item.peer_id,
            role=REFUSED_BY_PEER,
            origin=origin,
            status=status,
            code=code,
            reason=reason[:500],
            old_size=old_size,
            size=item.size,
        )
    )
    audit.record(
        "checkpoint_refused_by_peer",
        actor=SYSTEM,
        target_type="peer",
        target_id=item.peer_name,
        logs=[HUB_LOG],
        details={
            "log": checkpoints.log_name_of(origin),
            "status": status,
            "reason": code,
            "old_tree_size": old_size,
            "tree_size": item.size,
        },
    )


_CODES: Final = {400: "malformed", 403: "unknown_key", 404: "unknown_log", 409: "conflict"}
_CODES_422: Final = "inconsistent"


def submit(item: Submission) -> str | None:
    """Have one checkpoint cosigned; None when the cosignature is kept, else why not."""
    old_size = item.old_size
    for _attempt in range(2):
        try:
            answer = _post(item.base_url, _body(item, old_size), item.signer_org)
        except (OSError, http.client.HTTPException) as exc:
            raise ConnectionError(f"{type(exc).__name__}: {exc}") from exc
        if answer.status == 200:
            problem = _keep_cosignature(item, answer.body)
            if problem is not None:
                _keep_refusal(item, old_size, 200, "bad_cosignature", problem)
            return problem
        reason = answer.body.decode("utf-8", "replace").strip()[:400]
        if answer.status == 409 and answer.content_type.startswith(cs.SIZE_CONTENT_TYPE):
            try:
                known = cs.parse_size(answer.body)
            except cs.WitnessFormatError:
                known = -1
            if 0 <= known <= item.size and known != old_size and _attempt == 0:
                old_size = known  # the witness holds another size: prove from that one
                continue
            if known > item.size or known == old_size == item.size:
                reason = (
                    f"the peer cosigned size {known} and this log is at {item.size}: "
                    "its history here is not the one the peer saw"
                )
            else:
                reason = f"the peer holds size {known}"
        code = _CODES_422 if answer.status == 422 else _CODES.get(answer.status, "refused")
        _keep_refusal(item, old_size, answer.status, code, f"HTTP {answer.status}: {reason}")
        return f"HTTP {answer.status} {code}: {reason}"
    return "the peer kept answering with another size"


def send_once(peer_name: str | None = None) -> SendResult:
    """One pass (see the module's docstring); each read and record is a unit of its own."""
    result = SendResult()
    down: set[int] = set()
    for item in pending(peer_name):
        if item.peer_id in down:
            continue
        try:
            problem = submit(item)
        except ConnectionError as exc:
            down.add(item.peer_id)
            result.unreachable += 1
            result.errors.append(f"{item.peer_name}: {exc}")
            continue
        except Exception as exc:  # keys unavailable...: reported, tried again next pass
            result.errors.append(f"{item.peer_name}: {type(exc).__name__}: {exc}")
            continue
        if problem is None:
            result.cosigned += 1
        else:
            result.refused += 1
            result.errors.append(f"{item.peer_name}: {problem}")
    return result


class WitnessLoop(threading.Thread):
    """Sends new checkpoints for cosigning every HUB_PEER_DELIVERY_INTERVAL_SECONDS."""

    def __init__(self, app: Flask):
        super().__init__(name="peer-witness", daemon=True)
        self.app = app
        self.interval = app.config["HUB"].peer_delivery_interval_seconds
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            with self.app.app_context():
                try:
                    result = send_once()
                    if result.errors:
                        log.warning(
                            "witnessing pass: some checkpoints not cosigned",
                            extra={"action": "peer_witness", "target_type": "peer"},
                        )
                except Exception:  # never let one bad pass end the loop
                    log.exception("witnessing pass failed")
                finally:
                    db.session.remove()
            self.stopping.wait(self.interval)

    def stop(self) -> None:
        self.stopping.set()


def start_background(app: Flask) -> WitnessLoop:
    loop = WitnessLoop(app)
    loop.start()
    return loop


# --- checking what was cosigned (hub audit verify) ----------------------------------


@dataclass(frozen=True)
class CosignatureProblem:
    log: str
    peer: str
    size: int
    message: str

    def line(self) -> str:
        return f"{self.log}: {self.message}"


@operation
def check_cosignatures(log_name: str | None = None) -> tuple[int, list[CosignatureProblem]]:
    """Every kept cosignature (of one log, or all): it verifies with the peer's confirmed
    key over the checkpoint it names, and the log still gives the root it cosigned.
    Returns (how many were checked, the problems, each naming the log and the peer)."""
    query = (
        select(Cosignature, AuditLog, Checkpoint, Peer)
        .join(AuditLog, AuditLog.id == Cosignature.log_id)
        .join(Checkpoint, Checkpoint.id == Cosignature.checkpoint_id)
        .join(Peer, Peer.id == Cosignature.peer_id)
        .order_by(AuditLog.name, Peer.name, Cosignature.size)
    )
    if log_name is not None:
        query = query.where(AuditLog.name == log_name)
    problems = []
    checked = 0
    keys: dict[int, list[tuple[str, Ed25519PublicKey]]] = {}
    for cosig, head, checkpoint, peer in db.session.execute(query):
        checked += 1

        def problem(
            message: str, log: str = head.name, who: str = peer.name, size: int = cosig.size
        ) -> None:
            problems.append(CosignatureProblem(log, who, size, message))

        if peer.id not in keys:
            keys[peer.id] = witness.peer_keys(peer.id)
        verified = False
        for key_name, public in keys[peer.id]:
            try:
                cs.verify_cosignatures(
                    checkpoint.note, cosig.line, witness.witness_name(key_name), public
                )
            except (cs.WitnessFormatError, ValueError):
                continue
            verified = True
            break
        if not verified:
            problem(f"the cosignature by {peer.name} at size {cosig.size} does not verify")
            continue
        if (cosig.size, cosig.root) != (checkpoint.size, checkpoint.root):
            problem(f"{peer.name} cosigned size {cosig.size}, not the checkpoint it names")
            continue
        if cosig.size > head.size:
            problem(
                f"{peer.name} cosigned size {cosig.size} but the log holds {head.size} "
                "entries: history rewritten"
            )
            continue
        try:
            root = store.root_at(db.session(), head.id, cosig.size)
        except store.MissingNode:
            problem(f"the tree at size {cosig.size} cosigned by {peer.name} cannot be rebuilt")
            continue
        if root != cosig.root:
            problem(
                f"{peer.name} cosigned size {cosig.size} with another root than the log "
                "gives now: history rewritten"
            )
    return checked, problems


# --- what the compliance page shows --------------------------------------------------


@dataclass(frozen=True)
class Witnessed:
    """Per partner hub: the newest checkpoint of the log it cosigned, and how far behind."""

    peer: str
    size: int | None
    cosigned_at: datetime | None
    behind_entries: int | None
    #: How long ago that checkpoint was cosigned (the cosignature's own time).
    age: timedelta | None
    refused_at: datetime | None
    refused_reason: str | None


def witnessed_by(agreement_code: str) -> list[Witnessed]:
    """For the agreement's log: each active peer party to it (none on a hub alone)."""
    head = db.session.scalar(select(AuditLog).where(AuditLog.name == agreement_code))
    out: list[Witnessed] = []
    if head is None:
        return out
    for peer in db.session.scalars(
        select(Peer).where(Peer.removed_at.is_(None)).order_by(Peer.name)
    ):
        if not any(a.code == agreement_code for a in witness.shared_agreements(peer)):
            continue
        newest = db.session.scalar(
            select(Cosignature)
            .where(Cosignature.peer_id == peer.id, Cosignature.log_id == head.id)
            .order_by(Cosignature.size.desc())
            .limit(1)
        )
        refusal = db.session.scalar(
            select(WitnessRefusal)
            .where(
                WitnessRefusal.peer_id == peer.id,
                WitnessRefusal.role == REFUSED_BY_PEER,
                WitnessRefusal.origin == checkpoints.origin_for(agreement_code),
            )
            .order_by(WitnessRefusal.at.desc())
            .limit(1)
        )
        if refusal is not None and newest is not None and refusal.at <= newest.received_at:
            refusal = None  # cosigned since: the refusal is history
        out.append(
            Witnessed(
                peer=peer.name,
                size=newest.size if newest else None,
                cosigned_at=newest.cosigned_at if newest else None,
                behind_entries=int(head.size) - newest.size if newest else None,
                age=utcnow() - newest.cosigned_at if newest else None,
                refused_at=refusal.at if refusal else None,
                refused_reason=refusal.reason if refusal else None,
            )
        )
    return out
