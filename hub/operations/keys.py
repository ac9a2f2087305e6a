"""Key management as audited operations: make, rotate, re-wrap, import partners' keys.

The key files live in the keyring folder (hub.app_keyring); what changes in
the database (re-wrapped data keys) and every step itself go to the audit log:
the hub log, and the log of each agreement the organisation is party to, since
a rotation concerns the agreement's parties ("key rotation affecting the
agreement's parties").
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import defer, selectinload

from hub import app_keyring
from hub.crypto.keyring import ENC, HUB, KeyInfo, KeyringError, check_org
from hub.crypto.sealing import SealingError, rewrap
from hub.errors import NotFound, OperationError
from hub.extensions import db
from hub.models import Agreement, Organisation, PayloadWrap, SealedPayload
from hub.models.audit import HUB_LOG
from hub.operations import audit
from hub.operations.actor import Actor
from hub.operations.payloads import to_sealed
from hub.operations.unit import operation


class KeyOperationFailed(OperationError):
    status = 500
    code = "key_operation_failed"


def _agreement_logs(org: str) -> list[str]:
    """The hub log and the logs of every agreement ``org`` is party to."""
    codes = db.session.scalars(
        select(Agreement.code).join(Agreement.parties).where(Organisation.code == org)
    )
    return sorted({HUB_LOG, *codes})


def _check_known(org: str) -> None:
    try:
        check_org(org)
    except ValueError:
        raise NotFound(_l("No organisation with this code.")) from None
    if (
        org != HUB
        and db.session.scalar(select(Organisation.id).where(Organisation.code == org)) is None
    ):
        raise NotFound(_l("No organisation with this code."))


@operation
def init_keys(actor: Actor, orgs: list[str] | None = None) -> list[KeyInfo]:
    """Make the keys missing for ``orgs`` (default: every organisation without keys here)
    and for the hub (safe to run again)."""
    for org in orgs or []:
        _check_known(org)
    try:
        made = app_keyring.ensure_keys(orgs or None)
    except (KeyringError, app_keyring.KeysUnavailable) as exc:
        raise KeyOperationFailed(
            _l("The keyring cannot be used: %(reason)s", reason=str(exc))
        ) from exc
    if made:
        audit.record(
            "keys_created",
            actor=actor,
            target_type="keyring",
            target_id="-",
            details={"keys": [f"{k.org}/{k.kind}-v{k.version}:{k.fingerprint}" for k in made]},
        )
    return made


@operation
def rotate(actor: Actor, org: str) -> int:
    """Make a new version of ``org``'s key pairs; new payloads use it, old ones still open."""
    _check_known(org)
    ring = app_keyring.keyring()
    try:
        version = ring.rotate(org, app_keyring.passphrase())
        fingerprints = {
            info.kind: info.fingerprint for info in ring.list_keys(org) if info.version == version
        }
    except (KeyringError, app_keyring.KeysUnavailable) as exc:
        raise KeyOperationFailed(
            _l("The keys could not be rotated: %(reason)s", reason=str(exc))
        ) from exc
    audit.record(
        "keys_rotated",
        actor=actor,
        target_type="organisation",
        target_id=org,
        logs=_agreement_logs(org),
        details={"org": org, "version": version, "fingerprints": fingerprints},
    )
    return version


@dataclass
class RewrapResult:
    org: str
    version: int
    rewrapped: int
    # key version -> wraps still using it (empty: older private keys can be retired)
    remaining: dict[int, int]


@operation
def rewrap_all(actor: Actor, org: str) -> RewrapResult:
    """Re-wrap every data key held for ``org`` under an older key version to its newest key.

    Ciphertexts and signatures are untouched (wraps are not signed; the signed key
    commitment proves each new wrap holds the same data key). One transaction:
    either every wrap moves, or none does — each stays readable throughout.
    """
    _check_known(org)
    ring = app_keyring.keyring()
    try:
        version = ring.latest_version(org, ENC)
        new_public = ring.load_public(org, ENC, version)
    except KeyringError as exc:
        raise KeyOperationFailed(
            _l("The keys could not be read: %(reason)s", reason=str(exc))
        ) from exc
    rows = db.session.scalars(
        select(SealedPayload)
        .join(PayloadWrap)
        .where(PayloadWrap.org_code == org, PayloadWrap.key_version < version)
        .options(defer(SealedPayload.ciphertext), selectinload(SealedPayload.wraps))
        .order_by(SealedPayload.id)
    )
    count = 0
    try:
        for row in rows:
            wrap = next(w for w in row.wraps if w.org_code == org)
            # The ciphertext is not needed to re-wrap (and may be large): left unloaded.
            sealed = to_sealed(row, ciphertext=b"")
            old_private = app_keyring.private_enc(org, wrap.key_version)
            new = rewrap(sealed, org, old_private, version, new_public, sealed.binding).wraps[org]
            wrap.key_version, wrap.kem, wrap.fingerprint, wrap.enc = (
                new.version,
                new.suite,
                new.fingerprint,
                new.enc,
            )
            count += 1
    except (KeyringError, SealingError, app_keyring.KeysUnavailable) as exc:
        # The unit rolls back every wrap moved so far as this passes.
        raise KeyOperationFailed(_l("Nothing was re-wrapped: %(reason)s", reason=str(exc))) from exc
    audit.record(
        "keys_rewrapped",
        actor=actor,
        target_type="organisation",
        target_id=org,
        logs=_agreement_logs(org),
        details={"org": org, "version": version, "rewrapped": count},
    )
    return RewrapResult(org, version, count, wraps_by_version(org))


def wraps_by_version(org: str) -> dict[int, int]:
    rows = db.session.execute(
        select(PayloadWrap.key_version, db.func.count())
        .where(PayloadWrap.org_code == org)
        .group_by(PayloadWrap.key_version)
    )
    return {int(v): int(n) for v, n in rows}


@operation
def import_public(actor: Actor, text: str) -> tuple[str, list[str]]:
    """Store a partner's public keys; returns (organisation, fingerprints) to confirm."""
    try:
        org = json.loads(text)["org"]
        fingerprints = app_keyring.keyring().import_public(text)
    except (KeyringError, ValueError, KeyError, TypeError) as exc:
        raise KeyOperationFailed(
            _l("The public keys were not imported: %(reason)s", reason=str(exc))
        ) from exc
    audit.record(
        "keys_imported",
        actor=actor,
        target_type="organisation",
        target_id=org,
        logs=_agreement_logs(org),
        details={"org": org, "fingerprints": fingerprints},
    )
    return org, fingerprints
