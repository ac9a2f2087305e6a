"""Sealed packages: sealed payloads as one JSON file that travels outside the hub, and receipts.

A package carries, for ONE recipient organisation, one or more sealed items (an
exchange, its replies, its attachments): each item's binding, ciphertext, nonce,
key commitment, the data key wrapped for the recipient, and the sender's
signature. The exporting organisation signs a manifest listing every item, so an
item cannot be dropped from or added to a bundle unnoticed. The recipient answers
with a signed receipt naming the package digest.

Importing is: :func:`parse_package` (strict shape), :func:`verify_package`
(signatures against keys we already trust, before anything else), then
:func:`open_package`. The format is specified in schemas/README.md.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.crypto import strict_json
from hub.crypto.sealing import (
    BINDING_FIELDS,
    CIPHER,
    SEAL_VERSION,
    BadSignature,
    HpkePrivateKey,
    KnownSigner,
    NotAReader,
    Sealed,
    Wrap,
    b64decode,
    b64encode,
    binding_bytes,
    canonical_json,
    open_sealed,
    signing_fingerprint,
    verify_signature,
)

PACKAGE_FORMAT: Final = "blo-hub-package"
PACKAGE_VERSION: Final = 1
RECEIPT_FORMAT: Final = "blo-hub-receipt"
RECEIPT_VERSION: Final = 1

_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")
_TIME: Final = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")
_ORG: Final = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")


class PackageError(Exception):
    """Base class: a package or receipt is refused."""


class MalformedPackage(PackageError, ValueError):
    """Not a package of a format and version we know, or a field is missing or wrong."""


class UnknownSigner(PackageError):
    """Signed by a key we have not been given (and confirmed) for that organisation."""


Signer = tuple[str, int, Ed25519PrivateKey]


@dataclass(frozen=True)
class Package:
    """A parsed, NOT yet verified package. Each item holds only the recipient's wrap."""

    recipient: str
    created: str
    items: tuple[Sealed, ...]
    exporter_org: str
    exporter_version: int
    exporter_fingerprint: str
    signature: bytes

    def manifest_bytes(self) -> bytes:
        """The message the exporter signs: every item's digest, in order, for this recipient."""
        return _manifest_bytes(
            self.recipient,
            self.created,
            [item.digest for item in self.items],
            (self.exporter_org, self.exporter_version, self.exporter_fingerprint),
        )

    @property
    def digest(self) -> str:
        """SHA-256 of the manifest: what a receipt acknowledges."""
        return hashlib.sha256(self.manifest_bytes()).hexdigest()


@dataclass(frozen=True)
class VerifiedPackage:
    """A package whose every signature checked out against known keys; only this opens."""

    package: Package
    signers: tuple[KnownSigner, ...]  # one per item

    @property
    def digest(self) -> str:
        return self.package.digest


@dataclass(frozen=True)
class OpenedItem:
    binding: dict[str, str]
    plaintext: bytes
    signer_org: str
    signer_fingerprint: str
    digest: str


@dataclass(frozen=True)
class Receipt:
    package_sha256: str
    recipient: str
    received: str
    signer_org: str
    signer_version: int
    signer_fingerprint: str


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _timestamp(moment: datetime | None) -> str:
    if moment is None:
        return _now()
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _signer_ref(org: str, version: int, fp: str) -> dict[str, Any]:
    return {"org": org, "key_version": version, "fingerprint": fp}


def _manifest_bytes(
    recipient: str, created: str, item_digests: list[str], exporter: tuple[str, int, str]
) -> bytes:
    return canonical_json(
        {
            "format": PACKAGE_FORMAT,
            "version": PACKAGE_VERSION,
            "recipient": recipient,
            "created": created,
            "items": item_digests,
            "exporter": _signer_ref(*exporter),
        }
    )


# --- export ------------------------------------------------------------------


def _item_document(item: Sealed, recipient: str) -> dict[str, Any]:
    wrap = item.wraps.get(recipient)
    if wrap is None:
        raise NotAReader(f"{recipient} is not a reader of item {item.binding.get('record_id')}")
    return {
        "binding": {name: item.binding[name] for name in BINDING_FIELDS},
        "cipher": item.cipher,
        "nonce": b64encode(item.nonce),
        "key_commitment": item.key_commitment.hex(),
        "ciphertext": b64encode(item.ciphertext),
        "wrapped_key": {
            "org": recipient,
            "key_version": wrap.version,
            "suite": wrap.suite,
            "fingerprint": wrap.fingerprint,
            "enc": b64encode(wrap.enc),
        },
        "signer": _signer_ref(item.signer_org, item.signer_version, item.signer_fingerprint),
        "signature": b64encode(item.signature),
    }


def export_package(
    items: Sequence[Sealed],
    *,
    recipient: str,
    exporter: Signer,
    created: datetime | None = None,
) -> str:
    """One JSON document carrying ``items`` for ``recipient``, signed by the exporting organisation.

    Each item keeps its sender's signature; only the recipient's wrapped key is
    included, so the file reveals nothing to the other readers' keys.
    """
    if not items:
        raise ValueError("a package needs at least one item")
    exporter_org, exporter_version, exporter_key = exporter
    exporter_fp = signing_fingerprint(exporter_key.public_key())
    stamp = _timestamp(created)
    documents = [_item_document(item, recipient) for item in items]
    manifest = _manifest_bytes(
        recipient,
        stamp,
        [item.digest for item in items],
        (exporter_org, exporter_version, exporter_fp),
    )
    document = {
        "format": PACKAGE_FORMAT,
        "version": PACKAGE_VERSION,
        "recipient": recipient,
        "created": stamp,
        "items": documents,
        "exporter": _signer_ref(exporter_org, exporter_version, exporter_fp),
        "signature": b64encode(exporter_key.sign(manifest)),
    }
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


# --- strict parsing ----------------------------------------------------------


def _loads(text: str | bytes) -> Any:
    # One strict parser for everything from outside (hub.strict_json): a duplicate key
    # is read differently by different parsers, so it is refused, and so are NaN,
    # fractions and nesting deep enough to exhaust a recursive reader.
    try:
        return strict_json.loads(text, fractions=False)
    except strict_json.JSONRefused as exc:
        raise MalformedPackage(exc.detail) from None


def _obj(value: Any, fields: Sequence[str], where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedPackage(f"{where} must be an object")
    missing = [name for name in fields if name not in value]
    extra = sorted(set(value) - set(fields))
    if missing:
        raise MalformedPackage(f"{where} is missing {', '.join(missing)}")
    if extra:
        raise MalformedPackage(f"{where} has unknown fields {', '.join(extra)}")
    return value


def _check(value: Any, ok: Callable[[Any], bool], where: str) -> Any:
    if not ok(value):
        raise MalformedPackage(f"{where} has an invalid value")
    return value


def _str(value: Any, where: str, pattern: re.Pattern[str] | None = None) -> str:
    checked: str = _check(
        value,
        lambda v: isinstance(v, str) and bool(v) and (pattern is None or bool(pattern.match(v))),
        where,
    )
    return checked


def _version(value: Any, where: str) -> int:
    # bool is an int in Python; a JSON ``true`` is not a version.
    checked: int = _check(value, lambda v: type(v) is int and v >= 1, where)
    return checked


def _b64(value: Any, where: str) -> bytes:
    try:
        return b64decode(_str(value, where))
    except (ValueError, UnicodeEncodeError) as exc:
        raise MalformedPackage(f"{where} is not base64") from exc


def _format(doc: dict[str, Any], fmt: str, version: int, what: str) -> None:
    if doc.get("format") != fmt:
        raise MalformedPackage(f"not a {what} (format {doc.get('format')!r})")
    if doc.get("version") != version or type(doc.get("version")) is not int:
        raise MalformedPackage(f"unsupported {what} version {doc.get('version')!r}")


def _signer(value: Any, where: str) -> tuple[str, int, str]:
    ref = _obj(value, ("org", "key_version", "fingerprint"), where)
    return (
        _str(ref["org"], f"{where}.org", _ORG),
        _version(ref["key_version"], f"{where}.key_version"),
        _str(ref["fingerprint"], f"{where}.fingerprint", _HEX64),
    )


_ITEM_FIELDS: Final = (
    "binding",
    "cipher",
    "nonce",
    "key_commitment",
    "ciphertext",
    "wrapped_key",
    "signer",
    "signature",
)
_WRAP_FIELDS: Final = ("org", "key_version", "suite", "fingerprint", "enc")


def _parse_item(value: Any, recipient: str, where: str) -> Sealed:
    item = _obj(value, _ITEM_FIELDS, where)
    binding = _obj(item["binding"], BINDING_FIELDS, f"{where}.binding")
    try:
        binding_bytes(binding)
    except ValueError as exc:
        raise MalformedPackage(f"{where}.binding: {exc}") from exc
    if item["cipher"] != CIPHER:
        raise MalformedPackage(f"{where}.cipher {item['cipher']!r} is not supported")
    wrapped = _obj(item["wrapped_key"], _WRAP_FIELDS, f"{where}.wrapped_key")
    if wrapped["org"] != recipient:
        raise MalformedPackage(f"{where}.wrapped_key is for {wrapped['org']!r}, not {recipient!r}")
    wrap = Wrap(
        version=_version(wrapped["key_version"], f"{where}.wrapped_key.key_version"),
        suite=_str(wrapped["suite"], f"{where}.wrapped_key.suite"),
        fingerprint=_str(wrapped["fingerprint"], f"{where}.wrapped_key.fingerprint", _HEX64),
        enc=_b64(wrapped["enc"], f"{where}.wrapped_key.enc"),
    )
    signer_org, signer_version, signer_fp = _signer(item["signer"], f"{where}.signer")
    nonce = _b64(item["nonce"], f"{where}.nonce")
    if len(nonce) != 12:
        raise MalformedPackage(f"{where}.nonce must be 12 bytes")
    commitment = _str(item["key_commitment"], f"{where}.key_commitment", _HEX64)
    return Sealed(
        binding=dict(binding),
        nonce=nonce,
        ciphertext=_b64(item["ciphertext"], f"{where}.ciphertext"),
        key_commitment=bytes.fromhex(commitment),
        wraps={recipient: wrap},
        signer_org=signer_org,
        signer_version=signer_version,
        signer_fingerprint=signer_fp,
        signature=_b64(item["signature"], f"{where}.signature"),
        cipher=CIPHER,
        version=SEAL_VERSION,
    )


_PACKAGE_FIELDS: Final = (
    "format",
    "version",
    "recipient",
    "created",
    "items",
    "exporter",
    "signature",
)


def parse_package(text: str | bytes) -> Package:
    """Parse a package strictly: known format and version, every field present, nothing extra."""
    doc = _loads(text)
    if not isinstance(doc, dict):
        raise MalformedPackage("a package is a JSON object")
    _format(doc, PACKAGE_FORMAT, PACKAGE_VERSION, "BLO Hub package")
    _obj(doc, _PACKAGE_FIELDS, "package")
    recipient = _str(doc["recipient"], "recipient", _ORG)
    created = _str(doc["created"], "created", _TIME)
    if not isinstance(doc["items"], list) or not doc["items"]:
        raise MalformedPackage("items must be a non-empty list")
    items = tuple(
        _parse_item(value, recipient, f"items[{i}]") for i, value in enumerate(doc["items"])
    )
    exporter_org, exporter_version, exporter_fp = _signer(doc["exporter"], "exporter")
    return Package(
        recipient=recipient,
        created=created,
        items=items,
        exporter_org=exporter_org,
        exporter_version=exporter_version,
        exporter_fingerprint=exporter_fp,
        signature=_b64(doc["signature"], "signature"),
    )


# --- verify and open ---------------------------------------------------------


def _known(known_signers: Mapping[str, KnownSigner], org: str, fp: str, what: str) -> KnownSigner:
    signer = known_signers.get(fp)
    # A trusted key vouches only for its own organisation.
    if signer is None or signer.org != org or signer.fingerprint != fp:
        raise UnknownSigner(f"{what} is signed by a key we do not know for {org}: {fp[:16]}…")
    return signer


def verify_package(pkg: Package, known_signers: Mapping[str, KnownSigner]) -> VerifiedPackage:
    """Check the exporter's manifest signature, then every item's sender signature.

    ``known_signers`` maps fingerprint to a signing key confirmed out of band
    (``Keyring.known_signers()``). Nothing in the package is trusted before this.
    """
    exporter = _known(known_signers, pkg.exporter_org, pkg.exporter_fingerprint, "the package")
    try:
        exporter.public_key.verify(pkg.signature, pkg.manifest_bytes())
    except InvalidSignature as exc:
        raise BadSignature("the package manifest signature does not verify") from exc
    signers = []
    for i, item in enumerate(pkg.items):
        signer = _known(known_signers, item.signer_org, item.signer_fingerprint, f"item {i}")
        verify_signature(item, signer.public_key)
        signers.append(signer)
    return VerifiedPackage(pkg, tuple(signers))


def open_package(pkg: VerifiedPackage, recipient_private_key: HpkePrivateKey) -> list[OpenedItem]:
    """Decrypt every item of a verified package with the recipient's private key."""
    if not isinstance(pkg, VerifiedPackage):
        raise TypeError("verify_package() first: only a verified package is opened")
    opened = []
    for item, signer in zip(pkg.package.items, pkg.signers, strict=True):
        plaintext = open_sealed(
            item,
            binding=item.binding,
            reader_org=pkg.package.recipient,
            reader_private_key=recipient_private_key,
            signer_public_key=signer.public_key,
        )
        opened.append(
            OpenedItem(
                dict(item.binding), plaintext, item.signer_org, signer.fingerprint, item.digest
            )
        )
    return opened


# --- receipts ----------------------------------------------------------------

_RECEIPT_FIELDS: Final = (
    "format",
    "version",
    "package_sha256",
    "recipient",
    "received",
    "signer",
    "signature",
)


def make_receipt(
    package_digest: str,
    recipient_org: str,
    signer: Signer,
    *,
    received: datetime | None = None,
) -> str:
    """The recipient's signed statement that it received the package with this digest."""
    signer_org, signer_version, key = signer
    if signer_org != recipient_org:
        raise ValueError("a receipt is signed by the recipient organisation")
    if not _HEX64.match(package_digest):
        raise ValueError("package digest must be 64 lowercase hex characters")
    body = {
        "format": RECEIPT_FORMAT,
        "version": RECEIPT_VERSION,
        "package_sha256": package_digest,
        "recipient": recipient_org,
        "received": _timestamp(received),
        "signer": _signer_ref(signer_org, signer_version, signing_fingerprint(key.public_key())),
    }
    document = {**body, "signature": b64encode(key.sign(canonical_json(body)))}
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


def verify_receipt(text: str | bytes, known_signers: Mapping[str, KnownSigner]) -> Receipt:
    """Parse a receipt strictly and check its signature against a known recipient key."""
    doc = _loads(text)
    if not isinstance(doc, dict):
        raise MalformedPackage("a receipt is a JSON object")
    _format(doc, RECEIPT_FORMAT, RECEIPT_VERSION, "BLO Hub receipt")
    _obj(doc, _RECEIPT_FIELDS, "receipt")
    digest = _str(doc["package_sha256"], "package_sha256", _HEX64)
    recipient = _str(doc["recipient"], "recipient", _ORG)
    received = _str(doc["received"], "received", _TIME)
    org, version, fp = _signer(doc["signer"], "signer")
    if org != recipient:
        raise BadSignature("a receipt must be signed by its recipient")
    signature = _b64(doc["signature"], "signature")
    signer = _known(known_signers, org, fp, "the receipt")
    body = {name: value for name, value in doc.items() if name != "signature"}
    try:
        signer.public_key.verify(signature, canonical_json(body))
    except InvalidSignature as exc:
        raise BadSignature("the receipt signature does not verify") from exc
    return Receipt(digest, recipient, received, org, version, fp)
