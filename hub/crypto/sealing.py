"""Envelope encryption for payloads: encrypt once, wrap the data key per reader, sign.

A payload is encrypted once with a fresh 32-byte data key (AES-256-GCM). The data
key is wrapped with HPKE (RFC 9180, base mode) for each organisation allowed to
read it, and the sending organisation signs (Ed25519) what it sent. Every
authenticated byte is tied to the record the payload belongs to (its *binding*:
record type, record id, agreement, sender, recipient), so a ciphertext or a
wrapped key copied to another record does not open.

Only authenticated encryption is used; nothing here returns plaintext that has
not passed both the signature and the AEAD tag. The byte layouts are documented
in ``schemas/README.md`` so that a partner can implement them independently.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache, cached_property
from typing import Any, Final

from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

Bytes = bytes | bytearray | memoryview

SEAL_FORMAT: Final = "blo-hub-seal"
SEAL_VERSION: Final = 1
CIPHER: Final = "AES-256-GCM"
SIGNATURE_ALG: Final = "Ed25519"

# HPKE suites, named after their RFC 9180 / draft-ietf-hpke-pq identifiers:
# KEM 0x0020 or 0x647A, KDF 0x0001 (HKDF-SHA256), AEAD 0x0002 (AES-256-GCM).
SUITE_X25519: Final = "HPKE-X25519-SHA256-AES256GCM"
SUITE_MLKEM768_X25519: Final = "HPKE-MLKEM768X25519-SHA256-AES256GCM"

BINDING_FIELDS: Final = ("record_type", "record_id", "agreement", "sender", "recipient")

_DATA_KEY_LEN: Final = 32
_NONCE_LEN: Final = 12
_COMMIT_LABEL: Final = b"blo-hub key commitment v1"


class SealingError(Exception):
    """Base class: a sealed payload could not be made or opened."""


class BadSignature(SealingError):
    """The signature is missing, invalid, or made by another key than claimed."""


class NotAReader(SealingError):
    """The organisation has no wrapped key in this payload."""


class WrongKey(NotAReader):
    """The organisation is a reader, but under another key (version) than the one given."""


class TamperedCiphertext(SealingError):
    """An AEAD tag failed: the ciphertext, nonce or a wrapped key was altered or moved."""


class BindingMismatch(SealingError):
    """The payload was sealed for another record than the one it is being opened for."""


class MalformedEnvelope(SealingError, ValueError):
    """A stored envelope does not have the documented shape."""


# --- canonical bytes ---------------------------------------------------------


def canonical_json(value: Any) -> bytes:
    """The bytes that are signed or authenticated: RFC 8785 (JCS) for our data.

    Everything we canonicalise is objects with ASCII keys, strings and integers;
    for those, sorted keys, no whitespace and UTF-8 without ``\\u`` escapes for
    non-ASCII is exactly JCS, so another language can rebuild the same bytes.
    """
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def binding_bytes(binding: Mapping[str, str]) -> bytes:
    """AES-GCM associated data and HPKE ``info`` for a payload: JCS of the binding.

    Exactly the five fields, each a non-empty string: a missing or empty field
    would let two different records share the same associated data.
    """
    if set(binding) != set(BINDING_FIELDS):
        raise ValueError(f"binding needs exactly the fields {', '.join(BINDING_FIELDS)}")
    for name in BINDING_FIELDS:
        value = binding[name]
        if not isinstance(value, str) or not value:
            raise ValueError(f"binding field {name!r} must be a non-empty string")
    return canonical_json({name: binding[name] for name in BINDING_FIELDS})


def b64encode(data: Bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    """Strict RFC 4648 base64: refuses characters outside the alphabet."""
    return base64.b64decode(text.encode("ascii"), validate=True)


def fingerprint(public_bytes: Bytes) -> str:
    """SHA-256 of a public key's bytes, lowercase hex: what people compare by phone."""
    return hashlib.sha256(public_bytes).hexdigest()


def signing_fingerprint(public_key: Ed25519PublicKey) -> str:
    return fingerprint(public_key.public_bytes_raw())


# --- HPKE keys ---------------------------------------------------------------


@dataclass(frozen=True)
class _SuiteSpec:
    kem: hpke.KEM
    public_len: int
    private_len: int


# Hybrid key bytes are our own layout because cryptography builds the hybrid key
# from its two halves: public = ML-KEM-768 encapsulation key (1184) || X25519
# public (32), which is also the draft-ietf-hpke-pq public key encoding; private =
# ML-KEM-768 seed d||z (64) || X25519 scalar (32).
_SUITES: Final = {
    SUITE_X25519: _SuiteSpec(hpke.KEM.X25519, 32, 32),
    SUITE_MLKEM768_X25519: _SuiteSpec(hpke.KEM.MLKEM768_X25519, 1184 + 32, 64 + 32),
}
_MLKEM_PUBLIC_LEN: Final = 1184
_MLKEM_SEED_LEN: Final = 64


def _hpke_suite(suite: str) -> hpke.Suite:
    return hpke.Suite(_SUITES[suite].kem, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


@cache
def mlkem_available() -> bool:
    """Whether this cryptography build has ML-KEM (depends on the OpenSSL/AWS-LC it links)."""
    try:
        mlkem.MLKEM768PrivateKey.generate()
    except UnsupportedAlgorithm:
        return False
    return True


def default_suite() -> str:
    """New keys are hybrid post-quantum when the backend can, X25519 otherwise."""
    return SUITE_MLKEM768_X25519 if mlkem_available() else SUITE_X25519


def _check_suite(suite: str) -> _SuiteSpec:
    try:
        return _SUITES[suite]
    except KeyError:
        raise ValueError(f"unknown HPKE suite {suite!r}") from None


@dataclass(frozen=True)
class HpkePublicKey:
    """A reader's public encryption key: its suite and its bytes (parsed on creation)."""

    suite: str
    raw: bytes
    _key: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        spec = _check_suite(self.suite)
        if len(self.raw) != spec.public_len:
            raise ValueError(f"{self.suite} public key must be {spec.public_len} bytes")
        if self.suite == SUITE_X25519:
            key: Any = x25519.X25519PublicKey.from_public_bytes(self.raw)
        else:
            key = hpke.MLKEM768X25519PublicKey(
                mlkem.MLKEM768PublicKey.from_public_bytes(self.raw[:_MLKEM_PUBLIC_LEN]),
                x25519.X25519PublicKey.from_public_bytes(self.raw[_MLKEM_PUBLIC_LEN:]),
            )
        object.__setattr__(self, "_key", key)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.raw)


class HpkePrivateKey:
    """A reader's private encryption key; never printed, serialised only by the keyring."""

    __slots__ = ("_key", "_parts", "public", "suite")

    def __init__(self, suite: str, parts: tuple[Any, ...]) -> None:
        # parts: (X25519PrivateKey,) or (MLKEM768PrivateKey, X25519PrivateKey)
        self.suite = suite
        self._parts = parts
        if suite == SUITE_X25519:
            (xkey,) = parts
            self._key: Any = xkey
            raw_public = xkey.public_key().public_bytes_raw()
        else:
            mkey, xkey = parts
            self._key = hpke.MLKEM768X25519PrivateKey(mkey, xkey)
            raw_public = mkey.public_key().public_bytes_raw() + xkey.public_key().public_bytes_raw()
        self.public = HpkePublicKey(suite, raw_public)

    @classmethod
    def generate(cls, suite: str | None = None) -> HpkePrivateKey:
        suite = suite or default_suite()
        _check_suite(suite)
        if suite == SUITE_X25519:
            return cls(suite, (x25519.X25519PrivateKey.generate(),))
        return cls(suite, (mlkem.MLKEM768PrivateKey.generate(), x25519.X25519PrivateKey.generate()))

    @classmethod
    def from_bytes(cls, suite: str, raw: Bytes) -> HpkePrivateKey:
        spec = _check_suite(suite)
        raw = bytes(raw)
        if len(raw) != spec.private_len:
            raise ValueError(f"{suite} private key must be {spec.private_len} bytes")
        if suite == SUITE_X25519:
            return cls(suite, (x25519.X25519PrivateKey.from_private_bytes(raw),))
        return cls(
            suite,
            (
                mlkem.MLKEM768PrivateKey.from_seed_bytes(raw[:_MLKEM_SEED_LEN]),
                x25519.X25519PrivateKey.from_private_bytes(raw[_MLKEM_SEED_LEN:]),
            ),
        )

    def private_bytes(self) -> bytes:
        return b"".join(part.private_bytes_raw() for part in self._parts)

    def __repr__(self) -> str:
        return f"HpkePrivateKey({self.suite}, fingerprint={self.public.fingerprint[:16]}…)"


@dataclass(frozen=True)
class KnownSigner:
    """A signing public key we trust for one organisation (confirmed out of band)."""

    org: str
    version: int
    public_key: Ed25519PublicKey

    @property
    def fingerprint(self) -> str:
        return signing_fingerprint(self.public_key)


# --- the envelope ------------------------------------------------------------


@dataclass(frozen=True)
class Wrap:
    """The data key sealed to one reader: HPKE ``enc || ct`` as the single-shot API returns."""

    version: int
    suite: str
    fingerprint: str
    enc: bytes


@dataclass(frozen=True)
class Sealed:
    """A sealed payload. ``wraps`` is not signed, so it can be rewrapped after a rotation."""

    binding: Mapping[str, str]
    nonce: bytes
    ciphertext: bytes
    key_commitment: bytes
    wraps: Mapping[str, Wrap]
    signer_org: str
    signer_version: int
    signer_fingerprint: str
    signature: bytes
    cipher: str = CIPHER
    version: int = SEAL_VERSION

    @cached_property
    def ciphertext_sha256(self) -> str:
        # Cached: hashing a large payload is done once, for signing and for packages.
        return hashlib.sha256(self.ciphertext).hexdigest()

    def signed_bytes(self) -> bytes:
        """The exact message the sender signed (see schemas/README.md)."""
        return canonical_json(
            {
                "format": SEAL_FORMAT,
                "version": self.version,
                "cipher": self.cipher,
                "binding": {name: self.binding[name] for name in BINDING_FIELDS},
                "ciphertext_sha256": self.ciphertext_sha256,
                "nonce": b64encode(self.nonce),
                "key_commitment": self.key_commitment.hex(),
                "signer": {
                    "org": self.signer_org,
                    "key_version": self.signer_version,
                    "fingerprint": self.signer_fingerprint,
                },
            }
        )

    @property
    def digest(self) -> str:
        """SHA-256 of the signed message: names this payload in audit entries and manifests."""
        return hashlib.sha256(self.signed_bytes()).hexdigest()

    def header(self) -> dict[str, Any]:
        """Everything but the ciphertext, as JSON-ready data, for storage beside it."""
        return {
            "format": SEAL_FORMAT,
            "version": self.version,
            "cipher": self.cipher,
            "binding": dict(self.binding),
            "nonce": b64encode(self.nonce),
            "key_commitment": self.key_commitment.hex(),
            "wraps": {
                org: {
                    "key_version": w.version,
                    "suite": w.suite,
                    "fingerprint": w.fingerprint,
                    "enc": b64encode(w.enc),
                }
                for org, w in sorted(self.wraps.items())
            },
            "signer": {
                "org": self.signer_org,
                "key_version": self.signer_version,
                "fingerprint": self.signer_fingerprint,
            },
            "signature": b64encode(self.signature),
        }

    @classmethod
    def from_header(cls, header: Mapping[str, Any], ciphertext: bytes) -> Sealed:
        """Inverse of :meth:`header`; refuses anything but the documented shape."""
        try:
            version = header["version"]
            if (
                header["format"] != SEAL_FORMAT
                or type(version) is not int
                or version != SEAL_VERSION
            ):
                raise MalformedEnvelope("unknown envelope format or version")
            if header["cipher"] != CIPHER:
                raise MalformedEnvelope(f"unknown cipher {header['cipher']!r}")
            binding = dict(header["binding"])
            binding_bytes(binding)
            signer = header["signer"]
            wraps = {
                str(org): Wrap(
                    int(w["key_version"]),
                    str(w["suite"]),
                    str(w["fingerprint"]),
                    b64decode(w["enc"]),
                )
                for org, w in header["wraps"].items()
            }
            return cls(
                binding=binding,
                nonce=b64decode(header["nonce"]),
                ciphertext=ciphertext,
                key_commitment=bytes.fromhex(header["key_commitment"]),
                wraps=wraps,
                signer_org=str(signer["org"]),
                signer_version=int(signer["key_version"]),
                signer_fingerprint=str(signer["fingerprint"]),
                signature=b64decode(header["signature"]),
            )
        except MalformedEnvelope:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MalformedEnvelope(f"malformed envelope header: {exc}") from exc


def _commit(data_key: bytes) -> bytes:
    # AES-GCM is not key-committing: without this a malicious sender could craft
    # one ciphertext that opens to different plaintexts under two data keys and
    # wrap a different key for each reader. The signed commitment pins one key.
    return hmac.new(data_key, _COMMIT_LABEL, hashlib.sha256).digest()


def _wrap(data_key: bytes, info: bytes, version: int, public: HpkePublicKey) -> Wrap:
    enc = _hpke_suite(public.suite).encrypt(data_key, public._key, info=info)
    return Wrap(version, public.suite, public.fingerprint, enc)


def _unwrap(sealed: Sealed, reader_org: str, private: HpkePrivateKey, info: bytes) -> bytes:
    wrap = sealed.wraps.get(reader_org)
    if wrap is None:
        raise NotAReader(f"{reader_org} is not a reader of this payload")
    if wrap.suite != private.suite or wrap.fingerprint != private.public.fingerprint:
        raise WrongKey(
            f"{reader_org} reads this payload with key version {wrap.version} "
            f"({wrap.fingerprint[:16]}…), not with the key given"
        )
    try:
        data_key = _hpke_suite(wrap.suite).decrypt(wrap.enc, private._key, info=info)
    except (InvalidTag, ValueError) as exc:
        raise TamperedCiphertext(
            f"the wrapped key for {reader_org} does not open for this record"
        ) from exc
    if len(data_key) != _DATA_KEY_LEN or not hmac.compare_digest(
        _commit(data_key), sealed.key_commitment
    ):
        raise TamperedCiphertext(f"the wrapped key for {reader_org} is not the signed data key")
    return data_key


def _check_binding(sealed: Sealed, binding: Mapping[str, str]) -> bytes:
    aad = binding_bytes(binding)
    if dict(sealed.binding) != dict(binding):
        raise BindingMismatch("this payload belongs to another record")
    return aad


def verify_signature(sealed: Sealed, signer_public_key: Ed25519PublicKey) -> None:
    """Check the sender's signature; raise :class:`BadSignature` otherwise."""
    if sealed.version != SEAL_VERSION or sealed.cipher != CIPHER:
        raise BadSignature(f"unsupported envelope version {sealed.version} / {sealed.cipher}")
    # The sender signs what it sends: a signature by anyone else is not the sender's.
    if sealed.signer_org != sealed.binding.get("sender"):
        raise BadSignature("signed by an organisation other than the sender")
    if signing_fingerprint(signer_public_key) != sealed.signer_fingerprint:
        raise BadSignature("signed with another key than the one given to verify it")
    try:
        signer_public_key.verify(sealed.signature, sealed.signed_bytes())
    except InvalidSignature as exc:
        raise BadSignature("signature does not verify") from exc


def seal(
    plaintext: Bytes,
    *,
    binding: Mapping[str, str],
    readers: Mapping[str, tuple[int, HpkePublicKey]],
    signer: tuple[str, int, Ed25519PrivateKey],
) -> Sealed:
    """Encrypt ``plaintext`` once, wrap its data key for each reader, sign as the sender.

    ``readers`` maps organisation code to (key version, public key); include the
    sender itself if it should be able to read what it sent.
    """
    aad = binding_bytes(binding)
    if not readers:
        raise ValueError("a payload nobody can read is lost: give at least one reader")
    signer_org, signer_version, signing_key = signer
    if signer_org != binding["sender"]:
        raise ValueError("the sender organisation signs what it sends")

    data_key = AESGCM.generate_key(bit_length=256)
    # A fresh key per payload, so a random nonce can never repeat under one key.
    nonce = os.urandom(_NONCE_LEN)
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, aad)
    wraps = {
        org: _wrap(data_key, aad, version, public) for org, (version, public) in readers.items()
    }
    unsigned = Sealed(
        binding={name: binding[name] for name in BINDING_FIELDS},
        nonce=nonce,
        ciphertext=ciphertext,
        key_commitment=_commit(data_key),
        wraps=wraps,
        signer_org=signer_org,
        signer_version=signer_version,
        signer_fingerprint=signing_fingerprint(signing_key.public_key()),
        signature=b"",
    )
    return replace(unsigned, signature=signing_key.sign(unsigned.signed_bytes()))


def open_sealed(
    sealed: Sealed,
    *,
    binding: Mapping[str, str],
    reader_org: str,
    reader_private_key: HpkePrivateKey,
    signer_public_key: Ed25519PublicKey,
) -> bytes:
    """Return the plaintext after checking, in order: binding, signature, wrap, AEAD tag."""
    aad = _check_binding(sealed, binding)
    verify_signature(sealed, signer_public_key)
    data_key = _unwrap(sealed, reader_org, reader_private_key, aad)
    try:
        return AESGCM(data_key).decrypt(sealed.nonce, sealed.ciphertext, aad)
    except InvalidTag as exc:
        raise TamperedCiphertext("the ciphertext or nonce was altered") from exc


def rewrap(
    sealed: Sealed,
    reader_org: str,
    old_private: HpkePrivateKey,
    new_version: int,
    new_public: HpkePublicKey,
    binding: Mapping[str, str],
) -> Sealed:
    """Re-wrap the data key for ``reader_org`` under its new key; the ciphertext is untouched.

    The signature stays valid because wraps are not signed; the signed key
    commitment still proves the new wrap holds the same data key.
    """
    aad = _check_binding(sealed, binding)
    data_key = _unwrap(sealed, reader_org, old_private, aad)
    wraps = dict(sealed.wraps)
    wraps[reader_org] = _wrap(data_key, aad, new_version, new_public)
    return replace(sealed, wraps=wraps)
