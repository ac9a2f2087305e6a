"""The peer registry: partner hubs this hub delivers to and accepts deliveries from.

Registering a peer names its base URL, the organisations that live on it, and the
signing key fingerprints its administrator read out by telephone. The keys
themselves are the ones `hub keys import-public` stored in the keyring (so a
package and a request are checked against the same trusted keys); registration
only says "these keys speak for that hub". Every change is audited in the hub log
and in the logs of the agreements its organisations are party to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from hub import app_keyring
from hub.crypto.keyring import ENC, SIGN, KeyringError
from hub.errors import Conflict, Forbidden, NotFound
from hub.extensions import db
from hub.models import (
    Agreement,
    Organisation,
    OutboxItem,
    Peer,
    PeerKey,
    PeerOrganisation,
)
from hub.models.audit import HUB_LOG
from hub.models.base import utcnow
from hub.models.peer import QUEUED, REFUSED
from hub.operations import audit, outbox
from hub.operations.actor import SYSTEM, Actor
from hub.operations.checks import Errors
from hub.operations.unit import operation

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def require_admin(actor: Actor) -> None:
    """Peers are the administrators' (and the command line's)."""
    if actor is not SYSTEM and not actor.is_admin:
        raise Forbidden()


def _logs_for(orgs: list[str]) -> list[str]:
    codes = db.session.scalars(
        select(Agreement.code).join(Agreement.parties).where(Organisation.code.in_(orgs))
    )
    return sorted({HUB_LOG, *codes})


def own_organisations() -> set[str]:
    """The organisations that live on this hub: those whose private keys it holds."""
    return {k.org for k in app_keyring.keyring().list_keys() if k.kind == ENC and k.has_private}


def partner_signing_keys(org: str) -> list[tuple[int, str]]:
    """(version, fingerprint) of every signing key of ``org`` imported into the keyring."""
    return [
        (k.version, k.fingerprint)
        for k in app_keyring.keyring().list_keys(org)
        if k.kind == SIGN and not k.has_private
    ]


def normalise_url(errors: Errors, value: object) -> str:
    """An http(s) base URL without query, fragment or credentials, no trailing slash."""
    if not isinstance(value, str) or not value.strip():
        errors.add("url", _l("Give the peer's full web address."))
        return ""
    url = value.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
        or len(url) > 500
    ):
        errors.add("url", _l("Give the peer's full web address."))
        return ""
    del port
    settings = current_app.config["HUB"]
    if settings.production and parts.scheme != "https" and parts.hostname not in _LOOPBACK:
        errors.add("url", _l("In production a peer is reached over HTTPS."))
    return url


@dataclass
class NewPeer:
    name: str
    url: str
    organisations: list[str]
    #: Fingerprints of the peer's signing keys, as read out by its administrator.
    fingerprints: list[str]


@operation
def add(actor: Actor, data: NewPeer) -> Peer:
    """Register a partner hub (or re-register a removed one under the same name)."""
    require_admin(actor)
    errors = Errors()
    name = data.name.strip() if isinstance(data.name, str) else ""
    if not NAME.match(name):
        errors.add("name", _l("A short name: lower-case letters, digits, dot, dash."))
    url = normalise_url(errors, data.url)
    orgs = sorted({o.strip().upper() for o in data.organisations or [] if o and o.strip()})
    if not orgs:
        errors.add("organisations", _l("Name the organisations that live on that hub."))
    try:
        own = own_organisations()
    except KeyringError as exc:
        errors.add("organisations", _l("The keyring cannot be read: %(reason)s", reason=str(exc)))
        own = set()
    known = set(db.session.scalars(select(Organisation.code).where(Organisation.code.in_(orgs))))
    taken = {
        row.org_code: row.peer.name
        for row in db.session.scalars(
            select(PeerOrganisation)
            .join(Peer)
            .where(PeerOrganisation.org_code.in_(orgs), Peer.removed_at.is_(None))
        )
    }
    trusted: dict[str, tuple[str, int]] = {}
    for org in orgs:
        if org not in known:
            errors.add("organisations", _l("Unknown organisation: %(org)s", org=org))
        elif org in own:
            errors.add(
                "organisations",
                _l("%(org)s lives on this hub (its private keys are here).", org=org),
            )
        elif org in taken and taken[org] != name:
            errors.add(
                "organisations",
                _l("%(org)s lives on the peer %(peer)s already.", org=org, peer=taken[org]),
            )
        else:
            for version, fp in partner_signing_keys(org):
                trusted[fp] = (org, version)
    fingerprints = sorted({str(f).strip().lower() for f in data.fingerprints or [] if f})
    if not fingerprints:
        errors.add("fingerprints", _l("Give the signing key fingerprints the peer read out."))
    for fp in fingerprints:
        if not FINGERPRINT.match(fp):
            errors.add("fingerprints", _l("A fingerprint is 64 hexadecimal characters."))
        elif fp not in trusted:
            errors.add(
                "fingerprints",
                _l(
                    "No imported signing key of these organisations has the fingerprint "
                    "%(fp)s: import the partner's public keys first (hub keys import-public).",
                    fp=fp[:16] + "…",
                ),
            )
    confirmed_orgs = {trusted[fp][0] for fp in fingerprints if fp in trusted}
    for org in orgs:
        if org in known and org not in own and org not in taken and org not in confirmed_orgs:
            errors.add(
                "fingerprints",
                _l("Confirm at least one signing key of %(org)s.", org=org),
            )
    errors.raise_if_any()
    peer = db.session.scalar(select(Peer).where(Peer.name == name))
    if peer is not None and peer.active:
        raise Conflict(_l("A peer with this name is registered already; remove it first."))
    if peer is None:
        peer = Peer(name=name, base_url=url)
        db.session.add(peer)
    else:  # re-registered: new address, organisations and keys; its queue is kept
        peer.base_url, peer.removed_at = url, None
        peer.organisations.clear()
        peer.keys.clear()
        db.session.flush()
    peer.organisations.extend(PeerOrganisation(org_code=org) for org in orgs)
    peer.keys.extend(
        PeerKey(purpose="sign", org_code=trusted[fp][0], key_version=trusted[fp][1], fingerprint=fp)
        for fp in fingerprints
    )
    db.session.flush()
    audit.record(
        "peer_added",
        actor=actor,
        target_type="peer",
        target_id=peer.name,
        logs=_logs_for(orgs),
        details={"url": url, "organisations": orgs, "fingerprints": fingerprints},
    )
    return peer


def get(actor: Actor, name: str) -> Peer:
    require_admin(actor)
    peer: Peer | None = db.session.scalar(
        select(Peer)
        .where(Peer.name == name)
        .options(selectinload(Peer.organisations), selectinload(Peer.keys))
    )
    if peer is None:
        raise NotFound(_l("No peer with this name."))
    return peer


@operation
def remove(actor: Actor, name: str) -> Peer:
    """Stop delivering to and accepting from the peer; its row and queue stay readable."""
    peer = get(actor, name)
    if not peer.active:
        raise Conflict(_l("This peer was removed already."))
    peer.removed_at = utcnow()
    orgs = peer.org_codes
    audit.record(
        "peer_removed",
        actor=actor,
        target_type="peer",
        target_id=peer.name,
        logs=_logs_for(orgs),
        details={"organisations": orgs, "queued": queue_length(peer.id)},
    )
    return peer


def unconfirmed_keys(actor: Actor, name: str) -> list[tuple[str, int, str]]:
    """(org, version, fingerprint) of the peer's organisations' signing keys imported
    into the keyring (`hub keys import-public`) and not yet confirmed for it."""
    peer = get(actor, name)
    confirmed = {k.fingerprint for k in peer.keys}
    return [
        (org, version, fp)
        for org in peer.org_codes
        for version, fp in partner_signing_keys(org)
        if fp not in confirmed
    ]


@operation
def add_key(actor: Actor, name: str, fingerprint: str) -> PeerKey:
    """Confirm one more signing key of the peer (a key its organisation rotated to), as its
    administrator read the fingerprint out; the key must have been imported first."""
    peer = get(actor, name)
    require_active(peer)
    fp = fingerprint.strip().lower() if isinstance(fingerprint, str) else ""
    errors = Errors()
    if not FINGERPRINT.match(fp):
        errors.add("fingerprint", _l("A fingerprint is 64 hexadecimal characters."))
    elif any(k.fingerprint == fp for k in peer.keys):
        errors.add("fingerprint", _l("This key is confirmed for the peer already."))
    found = [(org, v) for org, v, f in unconfirmed_keys(actor, name) if f == fp]
    if not found and "fingerprint" not in errors:
        errors.add(
            "fingerprint",
            _l(
                "No imported signing key of these organisations has the fingerprint "
                "%(fp)s: import the partner's public keys first (hub keys import-public).",
                fp=fp[:16] + "…",
            ),
        )
    errors.raise_if_any()
    org, version = found[0]
    key = PeerKey(purpose="sign", org_code=org, key_version=version, fingerprint=fp)
    peer.keys.append(key)
    db.session.flush()
    audit.record(
        "peer_key_added",
        actor=actor,
        target_type="peer",
        target_id=peer.name,
        logs=_logs_for(peer.org_codes),
        details={"organisation": org, "version": version, "fingerprints": [fp]},
    )
    return key


@operation
def retire_key(actor: Actor, name: str, fingerprint: str) -> PeerKey:
    """Stop accepting the peer's requests and packages signed with this key (rotated away
    from, or lost). An organisation's last confirmed key stays: remove the peer instead."""
    peer = get(actor, name)
    require_active(peer)
    fp = fingerprint.strip().lower() if isinstance(fingerprint, str) else ""
    key = next((k for k in peer.keys if k.fingerprint == fp and k.purpose == "sign"), None)
    if key is None:
        raise NotFound(_l("No confirmed signing key with this fingerprint for this peer."))
    if not any(
        k is not key and k.purpose == "sign" and k.org_code == key.org_code for k in peer.keys
    ):
        raise Conflict(
            _l(
                "This is the last confirmed signing key of %(org)s: confirm its new key "
                "first, or remove the peer.",
                org=key.org_code,
            )
        )
    peer.keys.remove(key)
    db.session.flush()
    audit.record(
        "peer_key_retired",
        actor=actor,
        target_type="peer",
        target_id=peer.name,
        logs=_logs_for(peer.org_codes),
        details={"organisation": key.org_code, "version": key.key_version, "fingerprints": [fp]},
    )
    return key


def queue_length(peer_id: int) -> int:
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(OutboxItem)
            .where(OutboxItem.peer_id == peer_id, OutboxItem.status == QUEUED)
        )
        or 0
    )


@dataclass
class PeerStatus:
    peer: Peer
    queued: int
    delivered: int
    refused: int
    oldest_queued: datetime | None
    next_attempt: datetime | None
    last_contact: datetime | None
    last_error: str | None
    last_error_at: datetime | None


def status_of(peer: Peer) -> PeerStatus:
    rows = dict(
        db.session.execute(
            select(OutboxItem.status, func.count())
            .where(OutboxItem.peer_id == peer.id)
            .group_by(OutboxItem.status)
        ).all()
    )
    oldest, upcoming = db.session.execute(
        select(func.min(OutboxItem.created_at), func.min(OutboxItem.next_attempt_at)).where(
            OutboxItem.peer_id == peer.id, OutboxItem.status == QUEUED
        )
    ).one()
    return PeerStatus(
        peer=peer,
        queued=int(rows.get(QUEUED, 0)),
        delivered=int(sum(n for s, n in rows.items() if s not in (QUEUED, REFUSED))),
        refused=int(rows.get(REFUSED, 0)),
        oldest_queued=oldest,
        next_attempt=upcoming,
        last_contact=peer.last_contact_at,
        last_error=peer.last_error,
        last_error_at=peer.last_error_at,
    )


def list_peers(actor: Actor, *, include_removed: bool = True) -> list[PeerStatus]:
    require_admin(actor)
    query = select(Peer).options(selectinload(Peer.organisations), selectinload(Peer.keys))
    if not include_removed:
        query = query.where(Peer.removed_at.is_(None))
    return [status_of(p) for p in db.session.scalars(query.order_by(Peer.name))]


def status(actor: Actor, name: str) -> PeerStatus:
    return status_of(get(actor, name))


def queued_items(actor: Actor, name: str, limit: int = 200) -> list[OutboxItem]:
    """The peer's queued packages, oldest first (what the next pass sends first)."""
    peer = get(actor, name)
    return list(
        db.session.scalars(
            select(OutboxItem)
            .where(OutboxItem.peer_id == peer.id, OutboxItem.status == QUEUED)
            .order_by(OutboxItem.id)
            .limit(limit)
        )
    )


def refused_items(actor: Actor, name: str, limit: int = 200) -> list[OutboxItem]:
    """The peer's refused packages, newest first, each with the peer's answer."""
    peer = get(actor, name)
    return list(
        db.session.scalars(
            select(OutboxItem)
            .where(OutboxItem.peer_id == peer.id, OutboxItem.status == REFUSED)
            .order_by(OutboxItem.id.desc())
            .limit(limit)
        )
    )


@operation
def send_again(actor: Actor, name: str, item_ids: list[int] | None = None) -> list[int]:
    """Queue refused packages again (all of the peer's, or those named), once the cause is
    fixed on either side (e.g. the partner imported a rotated key): the same bytes, the
    same receipt expected. Audited per package; the worker is woken by the commit."""
    peer = get(actor, name)
    require_active(peer)
    query = select(OutboxItem).where(OutboxItem.peer_id == peer.id, OutboxItem.status == REFUSED)
    if item_ids is not None:
        query = query.where(OutboxItem.id.in_(item_ids))
    rows = list(db.session.scalars(query.order_by(OutboxItem.id)))
    if item_ids is not None and len(rows) != len(set(item_ids)):
        raise NotFound(_l("No refused package with this number for this peer."))
    now = utcnow()
    for row in rows:
        answer = row.last_error
        row.status, row.attempts, row.next_attempt_at, row.last_error = QUEUED, 0, now, None
        outbox.audit_package(actor, "peer_package_requeued", row, answer)
    if rows:
        db.session.info[outbox.QUEUED_FLAG] = True
    return [row.id for row in rows]


def require_active(peer: Peer) -> None:
    if not peer.active:
        raise Conflict(_l("This peer was removed already."))


def peer_for_org(org_code: str) -> Peer | None:
    """The active peer the organisation lives on, or None (it lives here, or nowhere known)."""
    return db.session.scalar(
        select(Peer)
        .join(PeerOrganisation)
        .where(PeerOrganisation.org_code == org_code, Peer.removed_at.is_(None))
    )


def peer_for_fingerprint(fingerprint: str) -> Peer | None:
    """The peer (active or removed) that registered this signing key fingerprint."""
    return db.session.scalar(
        select(Peer)
        .join(PeerKey)
        .where(PeerKey.fingerprint == fingerprint)
        .order_by(Peer.removed_at.is_not(None), Peer.id)
    )
