"""Signed checkpoints in the C2SP formats, so standard tooling can read them.

A checkpoint (https://c2sp.org/tlog-checkpoint) is a signed note
(https://c2sp.org/signed-note) whose text is::

    <origin>\\n<tree size>\\n<base64 root hash>\\n[<extension line>\\n ...]

followed by a blank line and signature lines ``— <key name> <base64(key id ||
signature)>`` (U+2014 em dash). Ed25519 key ids are the first four bytes of
SHA-256(key name || 0x0A || 0x01 || public key); a verifier key ("vkey") is
``<name>+<hex key id>+<base64(0x01 || public key)>``.

Parsing is strict (canonical decimal and base64, no control characters) so
one tree head has exactly one text, and a refusal raises a :class:`NoteError`
subclass that says what failed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = b"\x01"  # signature type byte assigned by the signed-note spec
HASH_SIZE = 32
MAX_SIGNATURES = 100  # the spec asks for a limit of at least 16; Go uses 100
_SIG_PREFIX = "\u2014 "  # em dash, space
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # every control char but \n
_DECIMAL = re.compile(r"0|[1-9][0-9]*")  # int() would take "+1", " 1", "1_0"


class NoteError(ValueError):
    """A note or checkpoint was refused; the message says why."""


class MalformedNoteError(NoteError):
    """The text is not a well-formed signed note or checkpoint."""


class UnknownKeyError(NoteError):
    """No signature line is from the key we were asked to trust."""


class BadSignatureError(NoteError):
    """A signature line from the trusted key does not verify."""


@dataclass(frozen=True)
class NoteSignature:
    """One signature line, as parsed; not verified by itself."""

    name: str
    key_id: bytes  # 4 bytes
    signature: bytes


@dataclass(frozen=True)
class Checkpoint:
    """A parsed checkpoint. Only trust one returned by verify_checkpoint."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()
    signatures: tuple[NoteSignature, ...] = ()


def _raw_public(key: Ed25519PublicKey | bytes) -> bytes:
    if isinstance(key, bytes):
        return key
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _valid_name(name: str) -> bool:
    """Key names: non-empty, no Unicode spaces, no '+' (signed-note spec)."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_id(name: str, public_key: Ed25519PublicKey | bytes) -> bytes:
    """The 4-byte Ed25519 key id recommended by the signed-note spec."""
    raw = _raw_public(public_key)
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + raw).digest()[:4]


def format_vkey(name: str, public_key: Ed25519PublicKey | bytes) -> str:
    """The verifier key string that partners configure to check checkpoints."""
    if not _valid_name(name):
        raise ValueError(f"invalid key name {name!r}")
    raw = _raw_public(public_key)
    encoded = base64.b64encode(ED25519 + raw).decode()
    return f"{name}+{key_id(name, raw).hex()}+{encoded}"


def parse_vkey(vkey: str) -> tuple[str, Ed25519PublicKey]:
    """Parse ``<name>+<hex key id>+<base64(0x01 || key)>``, checking the id."""
    parts = vkey.split("+", 2)  # the base64 key may itself contain "+"
    if len(parts) != 3 or not _valid_name(parts[0]):
        raise NoteError("verifier key is not <name>+<key id>+<key>")
    name, hex_id, encoded = parts
    if not re.fullmatch(r"[0-9a-fA-F]{8}", hex_id):
        raise NoteError("verifier key id is not 8 hex digits")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise NoteError("verifier key is not valid base64") from None
    if len(raw) != 33 or raw[:1] != ED25519:
        raise NoteError("verifier key is not an Ed25519 key")
    if key_id(name, raw[1:]) != bytes.fromhex(hex_id):
        raise NoteError("verifier key id does not match its name and key")
    return name, _load_public(raw[1:])


def _load_public(raw: bytes) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise NoteError("not a 32-byte Ed25519 public key") from None


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedNoteError(f"{what} is not valid base64") from None


def _split_note(note: str | bytes) -> tuple[str, tuple[NoteSignature, ...]]:
    """Split a signed note into its text and its signature lines."""
    try:  # a str may hold lone surrogates, which no UTF-8 note can
        note = note.decode() if isinstance(note, bytes) else note.encode().decode()
    except UnicodeError:
        raise MalformedNoteError("note is not valid UTF-8") from None
    if _CONTROL.search(note):
        raise MalformedNoteError("note contains a control character")
    split = note.rfind("\n\n")  # the spec: the *last* blank line separates
    if split < 0:
        raise MalformedNoteError("no blank line before the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise MalformedNoteError("signature block is empty or lacks a final newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNoteError(f"more than {MAX_SIGNATURES} signatures")
    signatures = []
    for number, line in enumerate(lines, 1):
        name, _, encoded = line.removeprefix(_SIG_PREFIX).partition(" ")
        if not line.startswith(_SIG_PREFIX) or not _valid_name(name):
            raise MalformedNoteError(f"signature line {number} is malformed")
        blob = _b64decode(encoded, f"signature line {number}")
        if len(blob) < 5:
            raise MalformedNoteError(f"signature line {number} is too short")
        signatures.append(NoteSignature(name, blob[:4], blob[4:]))
    return text, tuple(signatures)


def _parse(note: str | bytes) -> tuple[str, Checkpoint]:
    text, signatures = _split_note(note)
    lines = text[:-1].split("\n")
    if len(lines) < 3 or not all(lines):
        raise MalformedNoteError("checkpoint needs 3 or more non-empty lines")
    origin, size, encoded_root, *extensions = lines
    if not _DECIMAL.fullmatch(size) or int(size) >= 1 << 64:
        raise MalformedNoteError("tree size is not a canonical decimal number")
    root = _b64decode(encoded_root, "root hash")
    if len(root) != HASH_SIZE or base64.b64encode(root).decode() != encoded_root:
        raise MalformedNoteError("root hash is not the base64 of 32 bytes")
    checkpoint = Checkpoint(origin, int(size), root, tuple(extensions), signatures)
    return text, checkpoint


def parse_checkpoint(text: str | bytes) -> Checkpoint:
    """Parse a checkpoint without checking any signature (for display or to
    pick a key); use :func:`verify_checkpoint` before trusting its content."""
    return _parse(text)[1]


def _line_ok(line: str) -> bool:
    return bool(line) and "\n" not in line and not _CONTROL.search(line)


def sign_checkpoint(
    origin: str,
    size: int,
    root: bytes,
    private_key: Ed25519PrivateKey,
    key_name: str,
    extensions: tuple[str, ...] | list[str] = (),
) -> str:
    """Return the signed checkpoint note for the tree ``(size, root)``.

    Inputs are checked so that what we sign always parses back: a checkpoint
    the hub cannot itself verify would be worse than none.
    """
    if not _line_ok(origin) or not all(_line_ok(e) for e in extensions):
        raise ValueError("origin and extension lines must be non-empty single lines")
    if not 0 <= size < 1 << 64:
        raise ValueError(f"tree size {size} is out of range")
    if len(root) != HASH_SIZE:
        raise ValueError(f"root hash must be {HASH_SIZE} bytes")
    if not _valid_name(key_name):
        raise ValueError(f"invalid key name {key_name!r}")
    text = f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"
    text += "".join(f"{e}\n" for e in extensions)
    kid = key_id(key_name, private_key.public_key())
    blob = base64.b64encode(kid + private_key.sign(text.encode())).decode()
    return f"{text}\n{_SIG_PREFIX}{key_name} {blob}\n"


def verify_checkpoint(
    text: str | bytes,
    key: str | tuple[str, Ed25519PublicKey | bytes],
    *,
    origin: str | None = None,
) -> Checkpoint:
    """Parse a checkpoint and check it is signed by ``key``.

    ``key`` is a vkey string or a ``(key name, public key)`` pair. Signatures
    from other keys are ignored, as the spec requires (witnesses may cosign);
    every line from our key must verify, and at least one must exist. Pass
    ``origin`` to also refuse a genuine checkpoint of another log signed by
    the same key.
    """
    if isinstance(key, str):
        name, public_key = parse_vkey(key)
    else:
        name = key[0]
        public_key = _load_public(_raw_public(key[1]))
    body, checkpoint = _parse(text)
    kid = key_id(name, public_key)
    ours = [s for s in checkpoint.signatures if s.name == name and s.key_id == kid]
    if not ours:
        raise UnknownKeyError(f"no signature from key {name} ({kid.hex()})")
    for signature in ours:
        try:
            public_key.verify(signature.signature, body.encode())
        except InvalidSignature:
            raise BadSignatureError(f"signature by {name} does not verify") from None
    if origin is not None and checkpoint.origin != origin:
        raise NoteError(f"checkpoint is for {checkpoint.origin!r}, not {origin!r}")
    return checkpoint
