"""Signed requests between hubs: HTTP Message Signatures (RFC 9421) with Ed25519, over the
method, the path and the body's digest (RFC 9530 ``Content-Digest``), with a creation
time and a nonce.

The signing key is the sending organisation's Ed25519 signing key (the one that
signs its packages), named by its fingerprint as ``keyid``; the receiver finds
the key among those it imported and confirmed (``hub keys import-public``) and
the peer that registered it. Only the one profile below is produced and
accepted (schemas/peer-delivery.md):

    Content-Digest: sha-256=:<base64 SHA-256 of the body>:
    Signature-Input: hub=("@method" "@path" "content-digest");created=<unix seconds>;\
keyid="<64 hex>";nonce="<22-64 url-safe chars>";alg="ed25519";tag="blo-hub-peer-v1"
    Signature: hub=:<base64 Ed25519 signature of the signature base>:

Pure: no database, no Flask; the caller supplies the time and the key lookup.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hub.crypto.sealing import signing_fingerprint


class Headers(Protocol):
    """What a request's headers must offer: a dict or werkzeug's Headers."""

    def get(self, key: str, /) -> str | None: ...


LABEL: Final = "hub"
TAG: Final = "blo-hub-peer-v1"
COMPONENTS: Final = ("@method", "@path", "content-digest")

_INPUT: Final = re.compile(
    r'^hub=\("@method" "@path" "content-digest"\);created=(?P<created>[0-9]{1,12});'
    r'keyid="(?P<keyid>[0-9a-f]{64})";nonce="(?P<nonce>[A-Za-z0-9_-]{22,64})";'
    r'alg="ed25519";tag="blo-hub-peer-v1"$'
)
_SIGNATURE: Final = re.compile(r"^hub=:(?P<sig>[A-Za-z0-9+/]{86}==):$")
_DIGEST: Final = re.compile(r"^sha-256=:(?P<digest>[A-Za-z0-9+/]{43}=):$")
_PATH: Final = re.compile(r"^/[A-Za-z0-9/._~-]*$")


class RequestRefused(Exception):
    """The request is not signed as the profile says, by a key we know, now."""

    #: unsigned, malformed, unknown_key, bad_signature, bad_digest, stale
    reason = "malformed"

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SignedRequest:
    keyid: str
    created: int
    nonce: str


def content_digest(body: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


def _params(created: int, keyid: str, nonce: str) -> str:
    names = " ".join(f'"{c}"' for c in COMPONENTS)
    return f'({names});created={created};keyid="{keyid}";nonce="{nonce}";alg="ed25519";tag="{TAG}"'


def signature_base(method: str, path: str, digest: str, params: str) -> bytes:
    """RFC 9421 section 2.5: one line per component, then the signature parameters."""
    lines = [
        f'"@method": {method.upper()}',
        f'"@path": {path}',
        f'"content-digest": {digest}',
        f'"@signature-params": {params}',
    ]
    return "\n".join(lines).encode("ascii")


def sign_request(
    method: str, path: str, body: bytes, key: Ed25519PrivateKey, *, created: int
) -> dict[str, str]:
    """The three headers that sign a request (a fresh nonce each time)."""
    if not _PATH.match(path):
        raise ValueError("the path must be a plain absolute path without a query")
    keyid = signing_fingerprint(key.public_key())
    nonce = secrets.token_urlsafe(18)
    digest = content_digest(body)
    params = _params(created, keyid, nonce)
    signature = key.sign(signature_base(method, path, digest, params))
    return {
        "Content-Digest": digest,
        "Signature-Input": f"{LABEL}={params}",
        "Signature": f"{LABEL}=:{base64.b64encode(signature).decode('ascii')}:",
    }


def verify_request(
    method: str,
    path: str,
    body: bytes,
    headers: Headers,
    key_for: Callable[[str], Ed25519PublicKey | None],
    *,
    now: int,
    skew: int,
) -> SignedRequest:
    """Check a request's signature, digest and time; return who signed it and its nonce.

    ``key_for(keyid)`` returns the trusted public key with that fingerprint, or
    None. The nonce is the caller's to record (and to refuse when seen before).
    """
    given_input = headers.get("Signature-Input")
    given_signature = headers.get("Signature")
    given_digest = headers.get("Content-Digest")
    if not given_input or not given_signature or not given_digest:
        raise RequestRefused("unsigned", "the request is not signed")
    match = _INPUT.match(given_input.strip())
    sig_match = _SIGNATURE.match(given_signature.strip())
    digest_match = _DIGEST.match(given_digest.strip())
    if match is None or sig_match is None or digest_match is None or not _PATH.match(path):
        raise RequestRefused("malformed", "the request signature is not of the expected form")
    keyid, created, nonce = match["keyid"], int(match["created"]), match["nonce"]
    key = key_for(keyid)
    if key is None or signing_fingerprint(key) != keyid:
        raise RequestRefused(
            "unknown_key", f"signed by a key this hub does not know: {keyid[:16]}…"
        )
    params = given_input.strip()[len(LABEL) + 1 :]
    try:
        key.verify(
            base64.b64decode(sig_match["sig"], validate=True),
            signature_base(method, path, given_digest.strip(), params),
        )
    except (InvalidSignature, ValueError) as exc:
        raise RequestRefused("bad_signature", "the request signature does not verify") from exc
    if given_digest.strip() != content_digest(body):
        raise RequestRefused("bad_digest", "the body is not the one that was signed")
    if abs(now - created) > skew:
        raise RequestRefused(
            "stale", f"the request was signed {now - created} s from now, outside ±{skew} s"
        )
    return SignedRequest(keyid, created, nonce)
