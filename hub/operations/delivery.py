"""Delivering the outbox to partner hubs over HTTP(S), with retries, and the same packages
as files for a USB stick.

One pass (`deliver_once`, the `hub peer deliver` verb and each turn of the loop
`hub serve` starts) takes every queued package in the order it was queued; per
peer it stops at the first that fails or is still waiting out its back-off, so a
peer receives an exchange before what later updates it. Each package is POSTed
to ``<base_url>/peer/v1/inbox``, the request signed with the exporting
organisation's signing key (hub.crypto.peer_request). No database transaction
is open while the request is on the wire. A 200 answer carries the peer's signed
receipt, recorded exactly as `hub package receipt` records a file
(hub.operations.packages.record_receipt). A refusal (``is_refusal``: the peer read
the package and said no, e.g. 422) marks the row refused with the peer's answer,
audited; it is not retried (the same bytes would be refused again) and the pass
goes on to the peer's next package. Anything else (no answer, a timeout, 5xx,
401/403 while keys or registration are being fixed) is a failure recorded on the
row (attempts, error, the next attempt after an exponential back-off capped at
HUB_PEER_RETRY_MAX_SECONDS), and the peer's later packages wait behind it. The
rows live in the database: a restart loses nothing, and the peer's inbox stores a
package delivered twice only once.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from flask import Flask, current_app
from sqlalchemy import Row, func, select

from hub import app_keyring
from hub.config import Settings
from hub.crypto.peer_request import sign_request
from hub.errors import Conflict, OperationError
from hub.extensions import db
from hub.models import OutboxItem, Peer
from hub.models.base import utcnow
from hub.models.peer import DELIVERED, QUEUED, REFUSED
from hub.operations import outbox, packages, peers
from hub.operations.actor import SYSTEM, Actor
from hub.operations.inbox import HELLO_PATH, INBOX_PATH
from hub.operations.unit import operation

log = logging.getLogger(__name__)

#: Seconds to wait for a peer to connect and to answer.
TIMEOUT: Final = 30
#: The largest answer read from a peer (a receipt is about 1 KB).
MAX_ANSWER: Final = 64 * 1024


class PeerUnreachable(Exception):
    """The request did not get an answer (refused, reset, timed out, not HTTP)."""


@dataclass
class Answer:
    status: int
    body: dict[str, Any]


def _settings() -> Settings:
    settings: Settings = current_app.config["HUB"]
    return settings


def signed_post(base_url: str, path: str, body: bytes, org: str) -> Answer:
    """POST ``body`` to ``base_url + path``, signed with ``org``'s signing key."""
    _version, key = app_keyring.signing_key(org)
    parts = urlsplit(base_url)
    full_path = (parts.path.rstrip("/") or "") + path
    headers = sign_request("POST", full_path, body, key, created=int(time.time()))
    headers.update({"Content-Type": "application/json", "User-Agent": "blo-hub-peer/1"})
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    if parts.hostname is None:  # peers.normalise_url lets none in
        raise PeerUnreachable(f"no host in {base_url!r}")
    connection = connection_class(parts.hostname, parts.port, timeout=TIMEOUT)
    try:
        connection.request("POST", full_path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read(MAX_ANSWER + 1)
    except (OSError, http.client.HTTPException) as exc:
        raise PeerUnreachable(f"{type(exc).__name__}: {exc}") from exc
    finally:
        connection.close()
    try:
        answer = json.loads(raw) if len(raw) <= MAX_ANSWER else {}
    except ValueError:
        answer = {}
    return Answer(response.status, answer if isinstance(answer, dict) else {})


def backoff(attempts: int) -> timedelta:
    """The wait before attempt ``attempts + 1``: the interval, doubling, capped."""
    settings = _settings()
    seconds = settings.peer_delivery_interval_seconds * 2 ** max(0, min(attempts - 1, 20))
    return timedelta(seconds=min(seconds, settings.peer_retry_max_seconds))


#: 4xx answers that are not a refusal of the package: authentication and registration
#: (fixed by an administrator on either side), a wrong address, a busy or slow peer.
_RETRIED_4XX: Final = frozenset({401, 403, 404, 407, 408, 421, 425, 429})


def is_refusal(status: int) -> bool:
    """The peer read the package and refused it: retrying the same bytes cannot help."""
    return 400 <= status < 500 and status not in _RETRIED_4XX


@dataclass
class Attempt:
    """How one try ended: ``error`` None when received; ``refused`` when not to retry."""

    error: str | None = None
    refused: bool = False


@dataclass
class DeliveryResult:
    delivered: int = 0
    failed: int = 0
    refused: int = 0
    left: int = 0
    errors: list[str] = field(default_factory=list)


@operation
def _queued_item(item_id: int) -> tuple[str, bytes, str, str] | None:
    """What a queued package's delivery needs; a unit of its own, ended before the
    request goes on the wire (nothing held meanwhile: the peer may be this process)."""
    row = db.session.get(OutboxItem, item_id)
    if row is None or row.status != QUEUED:
        return None
    return row.peer.base_url, row.package_json.encode("utf-8"), row.exporter_org, row.package_sha256


def _deliver(item_id: int) -> Attempt | None:
    """Try one queued package; None when it is no longer queued (nothing to record)."""
    item = _queued_item(item_id)
    if item is None:
        return None
    base_url, body, org, digest = item
    try:
        answer = signed_post(base_url, INBOX_PATH, body, org)
    except PeerUnreachable as exc:
        return Attempt(str(exc))
    except Exception as exc:  # keys unavailable...: recorded and retried like the rest
        return Attempt(f"{type(exc).__name__}: {exc}")
    if answer.status != 200:
        said = (
            f"HTTP {answer.status} {answer.body.get('error', '')}: {answer.body.get('message', '')}"
        )
        return Attempt(said, refused=is_refusal(answer.status))
    return Attempt(_record_answer(answer, digest))


def _record_answer(answer: Answer, digest: str) -> str | None:
    """The 200 answer's receipt, recorded; the error when it is not one for ``digest``."""
    receipt = answer.body.get("receipt")
    try:
        if not isinstance(receipt, str) or json.loads(receipt).get("package_sha256") != digest:
            return "the peer's answer carries no receipt for this package"
    except (ValueError, AttributeError):
        return "the peer's answer carries no receipt for this package"
    try:
        packages.record_receipt(SYSTEM, receipt)  # its own unit: refused, nothing stays
    except Conflict:
        pass  # recorded already (carried back by USB, or an earlier answer)
    except OperationError as exc:
        return f"the peer's receipt was not accepted: {exc.message}"
    return None


@operation
def _record(item_id: int, attempt: Attempt) -> None:
    row = db.session.get(OutboxItem, item_id)
    if row is None:
        return
    now = utcnow()
    row.last_attempt_at = now
    row.attempts = (row.attempts or 0) + 1
    error = attempt.error
    if error is None:
        if row.status != DELIVERED:
            row.status, row.delivered_at = DELIVERED, now
        row.last_error = None
        row.peer.last_contact_at = now
        row.peer.last_error = None
    elif attempt.refused:
        # The peer answered: the link works; this package will not go as it is.
        row.status, row.last_error = REFUSED, error[:500]
        row.peer.last_contact_at = now
        outbox.audit_package(SYSTEM, "peer_package_refused", row, error[:500])
    else:
        row.next_attempt_at = now + backoff(row.attempts)
        row.last_error = error[:500]
        row.peer.last_error, row.peer.last_error_at = error[:500], now


@operation
def _queue(peer_name: str | None) -> list[Row[int, int, datetime]]:
    query = (
        select(OutboxItem.id, OutboxItem.peer_id, OutboxItem.next_attempt_at)
        .join(Peer, Peer.id == OutboxItem.peer_id)
        .where(OutboxItem.status == QUEUED, Peer.removed_at.is_(None))
        .order_by(OutboxItem.id)
    )
    if peer_name is not None:
        query = query.where(Peer.name == peer_name)
    return list(db.session.execute(query))


@operation
def _left() -> int:
    return int(
        db.session.scalar(
            select(func.count()).select_from(OutboxItem).where(OutboxItem.status == QUEUED)
        )
        or 0
    )


def deliver_once(*, peer_name: str | None = None, include_waiting: bool = False) -> DeliveryResult:
    """One pass over the queue (see the module's docstring). Each read and each record
    is a unit of its own: no transaction stays open while a request is on the wire."""
    now = utcnow()
    queued = _queue(peer_name)
    result = DeliveryResult()
    stopped: set[int] = set()
    for item_id, peer_id, due in queued:
        if peer_id in stopped:
            continue
        if not include_waiting and due > now:
            stopped.add(peer_id)  # its oldest waits out a back-off: the rest wait behind it
            continue
        attempt = _deliver(item_id)
        if attempt is None:
            continue  # delivered or refused meanwhile (another pass, a receipt by USB)
        _record(item_id, attempt)
        if attempt.error is None:
            result.delivered += 1
        elif attempt.refused:
            # Not retried: the peer's next package goes now, not behind it.
            result.refused += 1
            result.errors.append(f"package {item_id} refused: {attempt.error}")
        else:
            result.failed += 1
            result.errors.append(f"package {item_id}: {attempt.error}")
            stopped.add(peer_id)
            log.warning(
                "peer delivery failed",
                extra={
                    "action": "peer_deliver",
                    "target_type": "peer_outbox",
                    "target_id": item_id,
                },
            )
    result.left = _left()
    return result


@operation
def _hello_target(actor: Actor, name: str) -> tuple[str, list[str]]:
    return peers.get(actor, name).base_url, sorted(peers.own_organisations())


def check_peer(actor: Actor, name: str) -> dict[str, Any]:
    """A signed hello to the peer: does it answer, and does it know us?"""
    base_url, own = _hello_target(actor, name)  # its unit ends before the request
    if not own:
        return {"ok": False, "error": "this hub holds no organisation's signing key"}
    try:
        answer = signed_post(base_url, HELLO_PATH, b"{}", own[0])
    except PeerUnreachable as exc:
        return {"ok": False, "error": str(exc)}
    if answer.status != 200:
        return {"ok": False, "error": f"HTTP {answer.status} {answer.body.get('error', '')}"}
    return {"ok": True, **answer.body}


def export_queue(actor: Actor, name: str, folder: Path) -> list[Path]:
    """Write the peer's queued packages as files (the same bytes the worker POSTs)."""
    peer = peers.get(actor, name)
    rows = list(
        db.session.scalars(
            select(OutboxItem)
            .where(OutboxItem.peer_id == peer.id, OutboxItem.status == QUEUED)
            .order_by(OutboxItem.id)
        )
    )
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for row in rows:
        path = (
            folder
            / f"{row.id:06d}-{row.kind}-exchange-{row.exchange_id}-{row.recipient_org}.bhpkg.json"
        )
        if path.exists():
            continue  # written by an earlier export: the same bytes
        path.write_text(row.package_json, encoding="utf-8")
        written.append(path)
    return written


# --- the loop `hub serve` runs ------------------------------------------------------


class DeliveryLoop(threading.Thread):
    """Drains the queue every HUB_PEER_DELIVERY_INTERVAL_SECONDS, and at once after a
    commit that queued a package."""

    def __init__(self, app: Flask):
        super().__init__(name="peer-delivery", daemon=True)
        self.app = app
        self.interval = app.config["HUB"].peer_delivery_interval_seconds
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.last_pass: datetime | None = None

    def run(self) -> None:
        while not self.stopping.is_set():
            self.wake.clear()
            with self.app.app_context():
                try:
                    deliver_once()
                except Exception:  # never let one bad pass end the loop
                    log.exception("peer delivery pass failed")
                finally:
                    db.session.remove()
            self.last_pass = utcnow()
            self.wake.wait(self.interval)

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()


def start_background(app: Flask) -> DeliveryLoop:
    loop = DeliveryLoop(app)
    outbox.on_commit_of_queued(app, loop.wake.set)
    loop.start()
    return loop
