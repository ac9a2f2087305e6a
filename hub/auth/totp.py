"""TOTP (RFC 6238) second factor: secrets, codes, and sealing secrets at rest.

Secrets are sealed with AES-256-GCM under a key derived (HKDF-SHA256) from a
dedicated random key file, `HUB_TOTP_KEY_FILE` (default `<instance>/totp_key`,
made on first use, mode 0600).  It is kept apart from `HUB_SECRET_KEY` so that
rotating the secret key (which signs CSRF tokens) keeps every enrolment; losing
or replacing the key file means every enrolled user must enrol again (an
administrator resets their second factor, or `hub user reset-totp`).

The associated data binds each sealed secret to its user, so a secret copied
into another user's row does not open.
"""

from __future__ import annotations

import hmac
import json
import os
import time
from pathlib import Path

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ISSUER = "BLO Hub"
DIGITS = 6
INTERVAL = 30
#: Steps either side of now that are accepted (clock drift between phone and server).
WINDOW = 1
#: An enrolment started but not confirmed within this long must start again.
ENROLMENT_SECONDS = 30 * 60

_VERSION = b"\x01"
_STORED_INFO = b"blo-hub/totp-secret/v1"
_CANDIDATE_INFO = b"blo-hub/totp-enrolment/v1"


class SealError(Exception):
    """A sealed secret that does not open: wrong key file, tampered, or another user's."""


def new_secret() -> str:
    """160 random bits in base32, the size RFC 4226 recommends."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, username: str) -> str:
    """The otpauth:// URI an authenticator app reads (as a QR code or typed in)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).provisioning_uri(
        name=username, issuer_name=ISSUER
    )


def qr_svg(uri: str, title: str) -> str:
    """The URI as an inline SVG QR code, made here (no external service, no script)."""
    import segno

    return segno.make(uri, error="m").svg_inline(scale=4, title=title)


def group_secret(secret: str) -> str:
    """The secret in groups of four, easier to type into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // INTERVAL)


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).generate_otp(step)


def matching_step(secret: str, code: str, *, now: float | None = None) -> int | None:
    """The time step whose code this is, within ±WINDOW of now; None when none matches.

    Every candidate is compared in constant time, and all of them always are.
    """
    code = "".join(code.split())
    if len(code) != DIGITS or not code.isdigit():
        return None
    here = current_step(now)
    found = None
    for step in range(here - WINDOW, here + WINDOW + 1):
        if hmac.compare_digest(code_at(secret, step), code) and found is None:
            found = step
    return found


# --- sealing ------------------------------------------------------------------------------


def _master_key(path: Path) -> bytes:
    """The key file's 32 bytes, making the file (exclusively, 0600) the first time."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = os.urandom(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return _master_key(path)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    if len(data) < 32:
        raise SealError(f"{path} holds fewer than 32 bytes")
    return data


def _key(path: Path, info: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
        _master_key(path)
    )
    return AESGCM(derived)


def seal_secret(key_file: Path, secret: str, user_id: int) -> bytes:
    nonce = os.urandom(12)
    aad = f"user:{user_id}".encode()
    return _VERSION + nonce + _key(key_file, _STORED_INFO).encrypt(nonce, secret.encode(), aad)


def open_secret(key_file: Path, sealed: bytes, user_id: int) -> str:
    if not sealed or sealed[:1] != _VERSION:
        raise SealError("unknown format")
    try:
        plain = _key(key_file, _STORED_INFO).decrypt(
            sealed[1:13], sealed[13:], f"user:{user_id}".encode()
        )
    except InvalidTag:
        raise SealError("does not open") from None
    return plain.decode()


def seal_candidate(key_file: Path, secret: str, user_id: int, *, now: float | None = None) -> str:
    """A secret offered for enrolment, carried in the form until confirmed with a code.

    Sealed (under its own derived key) so the server knows it made it, for this
    user, recently; the user sees the secret itself on the page anyway.
    """
    issued = int(time.time() if now is None else now)
    body = json.dumps({"s": secret, "t": issued}).encode()
    nonce = os.urandom(12)
    aad = f"enrol:{user_id}".encode()
    blob = nonce + _key(key_file, _CANDIDATE_INFO).encrypt(nonce, body, aad)
    return blob.hex()


def open_candidate(key_file: Path, token: str, user_id: int, *, now: float | None = None) -> str:
    """The secret in a candidate from seal_candidate, or SealError when forged or stale."""
    try:
        blob = bytes.fromhex(token)
        body = json.loads(
            _key(key_file, _CANDIDATE_INFO).decrypt(
                blob[:12], blob[12:], f"enrol:{user_id}".encode()
            )
        )
    except (ValueError, InvalidTag):
        raise SealError("does not open") from None
    age = (time.time() if now is None else now) - body["t"]
    if not 0 <= age <= ENROLMENT_SECONDS:
        raise SealError("expired")
    return body["s"]
