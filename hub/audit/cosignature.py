"""Witnessing formats: C2SP tlog-witness add-checkpoint bodies and tlog-cosignature/v1.

An add-checkpoint request body (https://c2sp.org/tlog-witness)::

    old <size>\\n
    <base64 consistency proof hash>\\n      zero to 63 lines
    \\n
    <signed checkpoint note>

A cosignature (https://c2sp.org/tlog-cosignature) is a signed-note signature line
``— <witness name> <base64(key id || 8-byte big-endian time || Ed25519 signature)>``
over ``cosignature/v1\\ntime <unix seconds>\\n`` + the checkpoint's note body. Its
key id is SHA-256(name || 0x0A || 0x04 || public key)[:4]: signature type 0x04, so a
cosignature can never pass for the same key's checkpoint signature (type 0x01),
and the signed message starts with ``cosignature/v1`` where every checkpoint of
ours starts with its origin (``blo-hub/audit/...``).

Pure: no database, no Flask. Parsing is strict and refuses with a
:class:`WitnessFormatError` that says what failed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hub.audit import note

COSIGNATURE_V1: Final = b"\x04"  # signature type byte assigned by tlog-cosignature
HEADER: Final = "cosignature/v1\n"
MAX_PROOF_LINES: Final = 63  # tlog-witness: a client MUST NOT send more
#: An add-checkpoint body holds a checkpoint with a few signatures and 63 hashes.
MAX_BODY_BYTES: Final = 64 * 1024
MAX_TIMESTAMP: Final = (1 << 63) - 1
SIZE_CONTENT_TYPE: Final = "text/x.tlog.size"
_SIG_PREFIX: Final = "\u2014 "
_DECIMAL: Final = re.compile(r"0|[1-9][0-9]{0,19}")
_HASH_LINE: Final = re.compile(r"[A-Za-z0-9+/]{43}=")


class WitnessFormatError(ValueError):
    """An add-checkpoint body or a cosignature is malformed or does not verify."""


@dataclass(frozen=True)
class AddCheckpoint:
    """A parsed add-checkpoint request; the checkpoint's signatures are not checked."""

    old_size: int
    proof: tuple[bytes, ...]
    note_text: str
    checkpoint: note.Checkpoint


@dataclass(frozen=True)
class Cosignature:
    """One verified cosignature: who, when (unix seconds), and its note line."""

    name: str
    timestamp: int
    line: str


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    """The 4-byte key id of an Ed25519 cosigner (tlog-cosignature)."""
    return hashlib.sha256(name.encode() + b"\n" + COSIGNATURE_V1 + _raw(public_key)).digest()[:4]


def format_vkey(name: str, public_key: Ed25519PublicKey) -> str:
    """The cosigner's verifier key: ``<name>+<hex key id>+<base64(0x04 || key)>``."""
    if not name or "+" in name or any(c.isspace() for c in name):
        raise ValueError(f"invalid cosigner name {name!r}")
    encoded = base64.b64encode(COSIGNATURE_V1 + _raw(public_key)).decode()
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"


def note_body(note_text: str) -> str:
    """The checkpoint's note text up to and including the blank line's first newline."""
    split = note_text.rfind("\n\n")
    if split < 0:
        raise WitnessFormatError("the checkpoint has no blank line before its signatures")
    return note_text[: split + 1]


def signed_message(body: str, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: header, time line, then the checkpoint's note body."""
    return f"{HEADER}time {timestamp}\n{body}".encode()


def cosign(note_text: str, private_key: Ed25519PrivateKey, name: str, timestamp: int) -> str:
    """The cosignature line (with its newline) over a checkpoint note."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise ValueError(f"timestamp {timestamp} is out of range")
    if not name or "+" in name or any(c.isspace() for c in name):
        raise ValueError(f"invalid cosigner name {name!r}")
    signature = private_key.sign(signed_message(note_body(note_text), timestamp))
    kid = key_id(name, private_key.public_key())
    blob = base64.b64encode(kid + struct.pack(">Q", timestamp) + signature).decode()
    return f"{_SIG_PREFIX}{name} {blob}\n"


def verify_cosignatures(
    note_text: str, lines: str, name: str, public_key: Ed25519PublicKey
) -> list[Cosignature]:
    """The cosignatures by ``(name, public_key)`` among ``lines`` (an add-checkpoint
    answer: signature lines, each ending in a newline), each verified over the note.

    Lines from other keys are ignored, as the spec says; one from this key that does
    not verify refuses the whole answer; none at all refuses it too.
    """
    if len(lines) > MAX_BODY_BYTES or not lines.endswith("\n"):
        raise WitnessFormatError("the cosignatures are not newline-terminated lines")
    body = note_body(note_text)
    kid = key_id(name, public_key)
    found = []
    for number, line in enumerate(lines[:-1].split("\n"), 1):
        signer, _, encoded = line.removeprefix(_SIG_PREFIX).partition(" ")
        if not line.startswith(_SIG_PREFIX) or not signer:
            raise WitnessFormatError(f"cosignature line {number} is not a signature line")
        try:
            blob = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise WitnessFormatError(f"cosignature line {number} is not base64") from None
        if signer != name or blob[:4] != kid:
            continue
        if len(blob) != 4 + 8 + 64:
            raise WitnessFormatError(f"cosignature line {number} is not 76 bytes")
        (timestamp,) = struct.unpack(">Q", blob[4:12])
        if timestamp > MAX_TIMESTAMP:
            raise WitnessFormatError(f"cosignature line {number} has a time past 2^63-1")
        try:
            public_key.verify(blob[12:], signed_message(body, timestamp))
        except InvalidSignature:
            raise WitnessFormatError(f"cosignature by {name} does not verify") from None
        found.append(Cosignature(name, timestamp, line + "\n"))
    if not found:
        raise WitnessFormatError(f"no cosignature from {name} ({kid.hex()})")
    return found


def build_add_checkpoint(old_size: int, proof: list[bytes], note_text: str) -> bytes:
    """An add-checkpoint request body."""
    if old_size < 0 or len(proof) > MAX_PROOF_LINES or (old_size == 0 and proof):
        raise ValueError("old size and proof do not make an add-checkpoint request")
    if any(len(h) != note.HASH_SIZE for h in proof):
        raise ValueError("every proof hash is 32 bytes")
    lines = [f"old {old_size}\n", *(base64.b64encode(h).decode() + "\n" for h in proof), "\n"]
    return ("".join(lines) + note_text).encode()


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Parse an add-checkpoint request body (the checkpoint's signatures unchecked)."""
    if len(body) > MAX_BODY_BYTES:
        raise WitnessFormatError(f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WitnessFormatError("the body is not UTF-8") from None
    head, blank, note_text = text.partition("\n\n")
    if not blank:
        raise WitnessFormatError("no empty line after the old size and the proof")
    first, *hashes = head.split("\n")
    size = first.removeprefix("old ")
    if not first.startswith("old ") or not _DECIMAL.fullmatch(size) or int(size) >= 1 << 64:
        raise WitnessFormatError("the first line is not 'old <size>' in canonical decimal")
    if len(hashes) > MAX_PROOF_LINES:
        raise WitnessFormatError(f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof = []
    for number, line in enumerate(hashes, 1):
        if not _HASH_LINE.fullmatch(line):
            raise WitnessFormatError(f"proof line {number} is not the base64 of 32 bytes")
        decoded = base64.b64decode(line, validate=True)
        if base64.b64encode(decoded).decode() != line:
            raise WitnessFormatError(f"proof line {number} is not canonical base64")
        proof.append(decoded)
    old_size = int(size)
    if old_size == 0 and proof:
        raise WitnessFormatError("a proof from the old size 0 must be empty")
    try:
        checkpoint = note.parse_checkpoint(note_text)
    except note.NoteError as exc:
        raise WitnessFormatError(f"the checkpoint is malformed: {exc}") from None
    return AddCheckpoint(old_size, tuple(proof), note_text, checkpoint)


def format_size(size: int) -> bytes:
    """The 409 answer's body (Content-Type text/x.tlog.size)."""
    return f"{size}\n".encode()


def parse_size(body: bytes) -> int:
    """The witness's known size from a 409 answer."""
    text = body.decode("ascii", "replace")
    if not text.endswith("\n") or not _DECIMAL.fullmatch(text[:-1]):
        raise WitnessFormatError("the conflict answer is not a decimal size line")
    return int(text[:-1])
