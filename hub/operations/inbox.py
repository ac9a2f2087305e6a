"""The inbox: what a partner hub delivers online, authenticated, then imported exactly as
`hub package import` imports a file (hub.operations.packages.import_package, the same
code), answered with the signed receipt.

Order, and what each refusal leaves (nothing stored unless said):
1. the request's signature (hub.crypto.peer_request): unsigned, malformed, a key
   this hub never imported, a bad signature, a body that is not the signed one,
   or a time outside the clock-skew window: 401;
2. the peer: the key was imported but no registered peer confirmed it, the peer
   was removed, or the package's exporter is not one of the peer's organisations: 403;
3. the nonce: seen before within the window (a replayed request): 401. An
   accepted nonce is committed before the import, so the same request cannot be
   played twice even while the first is being imported;
4. the package: everything `hub package import` checks: 422. A package imported
   before (a retried delivery) answers 200 with the receipt issued the first time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import current_app
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from hub import app_keyring
from hub.crypto.package import MalformedPackage, parse_package
from hub.crypto.peer_request import Headers, RequestRefused, SignedRequest, verify_request
from hub.extensions import db
from hub.models import Peer, PeerNonce
from hub.models.base import utcnow
from hub.operations import packages, peers
from hub.operations.actor import Actor
from hub.operations.unit import operation

INBOX_PATH: Final = "/peer/v1/inbox"
HELLO_PATH: Final = "/peer/v1/hello"


class InboxRefused(Exception):
    """Refused before anything was stored; ``status`` and ``code`` go back to the caller."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Delivered:
    receipt: str
    again: bool
    exchanges: list[int]


def peer_actor(peer: Peer, org: str) -> Actor:
    """The hub acting on a peer's delivery: audited under the peer's name."""
    return Actor(
        user_id=None,
        username=f"peer:{peer.name}",
        organisation_id=None,
        organisation_code=org,
        role="system",
    )


@operation
def authenticate(method: str, path: str, headers: Headers, body: bytes) -> tuple[Peer, str]:
    """The active peer that signed this request and the organisation whose key signed it."""
    settings = current_app.config["HUB"]
    try:
        signers = app_keyring.keyring().known_signers()
    except Exception as exc:  # the keyring unreadable: nobody can be checked
        raise InboxRefused(503, "keys_unavailable", "the keyring cannot be read") from exc
    own = peers.own_organisations()

    def key_for(keyid: str) -> Ed25519PublicKey | None:
        signer = signers.get(keyid)
        # Our own organisations' keys are not a peer's.
        return signer.public_key if signer is not None and signer.org not in own else None

    try:
        signed: SignedRequest = verify_request(
            method,
            path,
            body,
            headers,
            key_for,
            now=int(time.time()),
            skew=settings.peer_clock_skew_seconds,
        )
    except RequestRefused as exc:
        raise InboxRefused(401, exc.reason, str(exc)) from exc
    org = signers[signed.keyid].org
    peer = peers.peer_for_fingerprint(signed.keyid)
    if peer is None:
        raise InboxRefused(403, "unknown_peer", "no registered peer confirmed this key")
    if not peer.active:
        raise InboxRefused(403, "removed_peer", "this peer was removed")
    if org not in peer.org_codes:
        raise InboxRefused(403, "mismatched_peer", "the key's organisation is not the peer's")
    _use_nonce(signed, settings.peer_clock_skew_seconds)
    peer.last_contact_at = utcnow()
    return peer, org


def _use_nonce(signed: SignedRequest, skew: int) -> None:
    now = utcnow()
    # Older nonces are refused by their date already: no need to keep them.
    db.session.execute(
        delete(PeerNonce).where(PeerNonce.seen_at < now - timedelta(seconds=2 * skew))
    )
    db.session.add(PeerNonce(fingerprint=signed.keyid, nonce=signed.nonce, seen_at=now))
    try:
        db.session.flush()
    except IntegrityError as exc:  # the unit of authenticate() rolls back as this passes
        raise InboxRefused(401, "replayed", "this request was received before") from exc


def receive(method: str, path: str, headers: Headers, body: bytes) -> Delivered:
    """Authenticate a delivery, then import its package as `hub package import` does."""
    peer, org = authenticate(method, path, headers, body)
    try:
        exporter = parse_package(body).exporter_org
    except MalformedPackage as exc:
        raise InboxRefused(422, "package_refused", f"not a package: {exc}") from exc
    if exporter != org:
        raise InboxRefused(
            403, "mismatched_peer", "the package's exporter did not sign the request"
        )
    try:
        result = packages.import_package(peer_actor(peer, exporter), body, redelivery=True)
    except packages.PackageRefused as exc:  # rolled back by the import's unit
        raise InboxRefused(422, "package_refused", str(exc.message)) from exc
    return Delivered(result.receipt, result.again, result.exchange_ids)


def hello(method: str, path: str, headers: Headers, body: bytes) -> dict[str, object]:
    """A signed no-op: says whether this hub knows the caller (for `hub peer status --check`)."""
    peer, org = authenticate(method, path, headers, body)
    return {"peer": peer.name, "organisation": org, "ours": sorted(peers.own_organisations())}
