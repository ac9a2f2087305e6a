"""Sealed payloads in the database: the one place operations seal, open and index.

- :func:`seal` encrypts content once, wraps its data key for each reader
  organisation's newest key, signs as the sender, and adds a
  :class:`~hub.models.SealedPayload` (with one :class:`~hub.models.PayloadWrap`
  per reader) to the session.
- :func:`open_for` opens a payload for an actor whose organisation is a reader,
  after checking that it belongs to the record it is opened for, and audits the
  reading. A failed opening is audited too, then refused. Both entries are
  *lasting* (hub.operations.unit): they stay whatever happens next, even when
  the operation that opened fails and is rolled back (issue 12).
- :func:`blind_index` is the keyed HMAC used to find suspects by exact name or
  identity document without storing either in plaintext.

The binding (AES-GCM associated data and HPKE ``info``) names the record
globally: ``record_id`` is ``"<hub id>/<local id>"``, so the same binding still
names one record at a partner's hub after a sealed package travels there.
Absent agreement or recipient are written ``"-"``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask_babel import lazy_gettext as _l
from sqlalchemy import CursorResult, insert
from sqlalchemy.orm import make_transient_to_detached

from hub import app_keyring
from hub.crypto.keyring import KeyNotFound, KeyringError
from hub.crypto.sealing import (
    BadSignature,
    BindingMismatch,
    HpkePublicKey,
    MalformedEnvelope,
    NotAReader,
    Sealed,
    SealingError,
    TamperedCiphertext,
    Wrap,
    canonical_json,
)
from hub.crypto.sealing import open_sealed as _open_sealed
from hub.crypto.sealing import seal as _seal
from hub.errors import Forbidden, OperationError
from hub.extensions import db
from hub.models import PayloadWrap, SealedPayload
from hub.models.base import utcnow
from hub.models.identity import hub_id
from hub.operations import audit
from hub.operations.actor import Actor
from hub.operations.unit import lasting, operation_keeping_loaded
from hub.text import clean, fold

NONE: Final = "-"


class PayloadUnreadable(OperationError):
    """The payload failed to open: altered, mis-signed, or its key is missing."""

    status = 500
    code = "payload_unreadable"


class NotAReaderError(Forbidden):
    """The actor's organisation holds no wrapped key for this payload."""


# --- bindings ------------------------------------------------------------------------


def global_record_id(record_id: int | str) -> str:
    return f"{hub_id()}/{record_id}"


def binding_for(
    *,
    record_type: str,
    record_id: int | str,
    agreement: str | None,
    sender: str,
    recipient: str | None,
) -> dict[str, str]:
    return {
        "record_type": record_type,
        "record_id": global_record_id(record_id),
        "agreement": agreement or NONE,
        "sender": sender,
        "recipient": recipient or NONE,
    }


# --- rows <-> envelopes ----------------------------------------------------------


def to_sealed(payload: SealedPayload, *, ciphertext: bytes | None = None) -> Sealed:
    """The envelope held by a payload row and its wraps (``ciphertext`` replaces the
    stored one, e.g. ``b""`` to re-wrap without loading it)."""
    try:
        binding = json.loads(payload.binding_json)
    except ValueError as exc:
        raise MalformedEnvelope("the stored binding is not JSON") from exc
    return Sealed(
        binding=binding,
        nonce=payload.nonce,
        ciphertext=payload.ciphertext if ciphertext is None else ciphertext,
        key_commitment=payload.key_commitment,
        wraps={w.org_code: Wrap(w.key_version, w.kem, w.fingerprint, w.enc) for w in payload.wraps},
        signer_org=payload.signer_org,
        signer_version=payload.signer_key_version,
        signer_fingerprint=payload.signer_fingerprint,
        signature=payload.signature,
        cipher=payload.suite,
        version=payload.envelope_version,
    )


# Built once: the values travel as parameters, so each insert reuses the compiled form.
_INSERT_PAYLOAD: Final = insert(SealedPayload.__table__)
_INSERT_WRAP: Final = insert(PayloadWrap.__table__)


def payload_row(
    sealed: Sealed,
    *,
    record_type: str,
    record_id: int | str,
    imported: bool = False,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """The payload table's columns for an envelope (the importer writes them in bulk)."""
    return {
        "record_type": record_type,
        "record_id": str(record_id),
        "binding_json": canonical_json(dict(sealed.binding)).decode("utf-8"),
        "envelope_version": sealed.version,
        "suite": sealed.cipher,
        "nonce": sealed.nonce,
        "key_commitment": sealed.key_commitment,
        "ciphertext": sealed.ciphertext,
        "ciphertext_sha256": sealed.ciphertext_sha256,
        "signer_org": sealed.signer_org,
        "signer_key_version": sealed.signer_version,
        "signer_fingerprint": sealed.signer_fingerprint,
        "signature": sealed.signature,
        "imported": imported,
        "created_at": created_at or utcnow(),
    }


def wrap_rows(sealed: Sealed, payload_id: int) -> list[dict[str, Any]]:
    """The wrap table's rows for an envelope, one per reader (the importer writes them in bulk)."""
    return [
        {
            "payload_id": payload_id,
            "org_code": org,
            "key_version": w.version,
            "kem": w.suite,
            "fingerprint": w.fingerprint,
            "enc": w.enc,
        }
        for org, w in sorted(sealed.wraps.items())
    ]


def store(
    sealed: Sealed, *, record_type: str, record_id: int | str, imported: bool = False
) -> SealedPayload:
    """Add the rows for an envelope (no commit) and return the payload row.

    Written with two plain INSERTs (the payload, then its wraps in one batch)
    rather than through the unit of work, which cost more than the sealing
    itself; the returned row is then attached to the session as if loaded, so
    callers use it as any other (its ``wraps`` load when first read).
    """
    values = payload_row(sealed, record_type=record_type, record_id=record_id, imported=imported)
    session = db.session
    session.flush()  # rows pending before this one keep their order
    inserted = cast(CursorResult[Any], session.execute(_INSERT_PAYLOAD, values))
    primary = inserted.inserted_primary_key
    if primary is None:  # a single-row INSERT always has one
        raise RuntimeError("the payload insert returned no id")
    payload_id = primary[0]
    session.execute(_INSERT_WRAP, wrap_rows(sealed, payload_id))
    row = SealedPayload(id=payload_id, **values)
    make_transient_to_detached(row)
    session.add(row)
    return row


def expected_binding(
    payload: SealedPayload, record_type: str, record_id: int | str
) -> dict[str, Any]:
    """The binding the payload must carry to belong to this record.

    Record type and id come from the caller (the row being read), never from the
    payload row, so a payload moved to another record fails to open. Agreement,
    sender and recipient are taken from the stored binding: they are
    authenticated, and the record id alone is globally unique. A payload that
    arrived in a sealed package is bound to the sender hub's record.
    """
    stored = json.loads(payload.binding_json)
    record = stored.get("record_id", "") if payload.imported else global_record_id(record_id)
    return {**stored, "record_type": record_type, "record_id": record}


# --- the interface ----------------------------------------------------------------


class Keys:
    """The keys a seal needs, looked up once for as long as this object lives (a bulk
    run keeps one; a single seal makes its own): readers' newest public encryption
    keys, and the signer's newest signing key."""

    def __init__(self) -> None:
        self.readers: dict[str, tuple[int, HpkePublicKey]] = {}
        self.signers: dict[str, tuple[int, Ed25519PrivateKey]] = {}

    def reader(self, org: str) -> tuple[int, HpkePublicKey]:
        if org not in self.readers:
            self.readers[org] = app_keyring.public_enc(org)
        return self.readers[org]

    def signer(self, org: str) -> tuple[int, Ed25519PrivateKey]:
        if org not in self.signers:
            self.signers[org] = app_keyring.signing_key(org)
        return self.signers[org]


def envelope(
    *,
    record_type: str,
    record_id: int | str,
    agreement: str | None,
    sender: str,
    recipient: str | None,
    readers: list[str],
    content: bytes,
    keys: Keys | None = None,
) -> Sealed:
    """Seal ``content`` for ``readers`` (organisation codes; the sender reads only if
    listed), signed by ``sender``, bound to the record; nothing is stored."""
    keys = keys or Keys()
    binding = binding_for(
        record_type=record_type,
        record_id=record_id,
        agreement=agreement,
        sender=sender,
        recipient=recipient,
    )
    reader_keys = {org: keys.reader(org) for org in sorted(set(readers))}
    version, signing_key = keys.signer(sender)
    return _seal(
        content, binding=binding, readers=reader_keys, signer=(sender, version, signing_key)
    )


def seal(
    *,
    record_type: str,
    record_id: int,
    agreement: str | None,
    sender: str,
    recipient: str | None,
    readers: list[str],
    content: bytes,
) -> SealedPayload:
    """`envelope`, then `store`: the new payload row is added to the session and flushed."""
    sealed = envelope(
        record_type=record_type,
        record_id=record_id,
        agreement=agreement,
        sender=sender,
        recipient=recipient,
        readers=readers,
        content=content,
    )
    return store(sealed, record_type=record_type, record_id=record_id)


_FAILURES: Final = (
    (BadSignature, "bad_signature", _l("The sender's signature on this content does not verify.")),
    (
        BindingMismatch,
        "wrong_record",
        _l("This sealed content belongs to another record and cannot be shown here."),
    ),
    (
        TamperedCiphertext,
        "tampered",
        _l("This sealed content has been altered and cannot be opened."),
    ),
    (MalformedEnvelope, "malformed", _l("This sealed content is damaged and cannot be opened.")),
    (NotAReader, "wrong_key", _l("The key needed to open this content is not on this hub.")),
    (KeyNotFound, "missing_key", _l("The key needed to open this content is not on this hub.")),
)


def _failure(exc: Exception) -> tuple[str, object]:
    for kind, reason, message in _FAILURES:
        if isinstance(exc, kind):
            return reason, message
    return "key_unavailable", _l("The keys of this hub cannot be used to open this content now.")


@operation_keeping_loaded
def open_for(
    actor: Actor, payload: SealedPayload, *, record_type: str, record_id: int, logs: list[str]
) -> bytes:
    """Open a payload for ``actor``: refuse if their organisation is not a reader; check
    binding, signature, wrap and tag; audit the reading (in the caller's transaction).

    A failure records "payload_open_failed" and raises :class:`PayloadUnreadable`.
    Both entries are lasting: a rollback of the caller's work never undoes them.
    """
    org = actor.organisation_code
    wrap = next((w for w in payload.wraps if w.org_code == org), None)
    if wrap is None:
        raise NotAReaderError(_l("Your organisation is not among the readers of this content."))
    payload_id, digest = payload.id, payload.ciphertext_sha256
    try:
        if payload.record_type != record_type or payload.record_id != str(record_id):
            raise BindingMismatch("the payload row names another record")
        sealed = to_sealed(payload)
        binding = expected_binding(payload, record_type, record_id)
        signer_public = app_keyring.signing_public(sealed.signer_org, sealed.signer_version)
        private = app_keyring.private_enc(org, wrap.key_version)
        plaintext = _open_sealed(
            sealed,
            binding=binding,
            reader_org=org,
            reader_private_key=private,
            signer_public_key=signer_public,
        )
    except (SealingError, KeyringError, app_keyring.KeysUnavailable, ValueError) as exc:
        _record_failure(actor, payload_id, digest, record_type, record_id, logs, exc)
        raise PayloadUnreadable(_failure(exc)[1]) from exc
    lasting(
        lambda: audit.record(
            "payload_opened",
            actor=actor,
            target_type=record_type,
            target_id=record_id,
            logs=logs,
            details={"payload": payload_id, "sha256": digest},
        )
    )
    return plaintext


def _record_failure(
    actor: Actor,
    payload_id: int,
    digest: str,
    record_type: str,
    record_id: int,
    logs: list[str],
    exc: Exception,
) -> None:
    # The attempt stays on record, as do the openings before it: never roll back
    # here (that undid them: issue 12); a failing unit keeps lasting entries.
    reason = _failure(exc)[0]
    lasting(
        lambda: audit.record(
            "payload_open_failed",
            actor=actor,
            target_type=record_type,
            target_id=record_id,
            logs=logs,
            details={"payload": payload_id, "sha256": digest, "reason": reason},
        )
    )


def normalise(value: str) -> str:
    """What a blind index is computed over: cleaned, folded (accents, case, Lao ຳ),
    runs of white space made one space."""
    return " ".join(fold(clean(value)).split())


def blind_index(kind: str, value: str) -> str:
    """Keyed HMAC-SHA256 (hex) of the normalised value, for exact-match search.

    The key is the hub's blind-index secret (hub.app_keyring), separate per
    ``kind`` ("name", "document"). Without the secret the index reveals nothing
    but equality, so it is safe beside the sealed payload.
    """
    import hashlib
    import hmac

    text = normalise(value)
    if not text:
        raise ValueError("nothing to index")
    return hmac.new(
        app_keyring.index_key_for(kind), text.encode("utf-8"), hashlib.sha256
    ).hexdigest()
