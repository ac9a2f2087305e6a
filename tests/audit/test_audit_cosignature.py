"""Witnessing formats (C2SP tlog-witness add-checkpoint, tlog-cosignature/v1): round trips,
the spec's example request parsed, and hostile input refused with a reason.

No published Ed25519 cosignature vector comes with its key, so the signed bytes are
pinned by hand from the spec's text (header, time line, note body) instead.
"""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.audit import cosignature as cs
from hub.audit.note import sign_checkpoint

LOG_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"log").digest())
WITNESS = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"witness").digest())
OTHER = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"other").digest())
ROOT = hashlib.sha256(b"root").digest()
NAME = "blo-hub-witness-v1"

# The example request of c2sp.org/tlog-witness.
SPEC_REQUEST = (
    "old 20852014\n"
    "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
    "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
    "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
    "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
    "\n"
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u"
    "5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "\u2014 example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks"
    "+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n"
)


def _checkpoint(size: int = 7) -> str:
    return sign_checkpoint("blo-hub/audit/QB-KM-MOU", size, ROOT, LOG_KEY, "blo-hub-audit-v1")


def test_the_spec_example_request_parses():
    parsed = cs.parse_add_checkpoint(SPEC_REQUEST.encode())
    assert parsed.old_size == 20852014
    assert len(parsed.proof) == 4
    assert parsed.proof[0] == base64.b64decode("PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=")
    assert parsed.checkpoint.origin == "example.com/behind-the-sofa"
    assert parsed.checkpoint.size == 20852163
    assert len(parsed.checkpoint.signatures) == 2
    again = cs.build_add_checkpoint(parsed.old_size, list(parsed.proof), parsed.note_text)
    assert again == SPEC_REQUEST.encode()


def test_round_trip_and_the_signed_bytes():
    note_text = _checkpoint()
    line = cs.cosign(note_text, WITNESS, NAME, 1679315147)
    assert line.startswith("\u2014 blo-hub-witness-v1 ")
    assert line.endswith("\n")
    blob = base64.b64decode(line.split(" ")[2])
    assert len(blob) == 4 + 8 + 64
    assert (
        blob[:4]
        == hashlib.sha256(NAME.encode() + b"\n\x04" + cs._raw(WITNESS.public_key())).digest()[:4]
    )
    assert struct.unpack(">Q", blob[4:12]) == (1679315147,)
    body = note_text[: note_text.index("\n\n") + 1]
    expected = f"cosignature/v1\ntime 1679315147\n{body}".encode()
    WITNESS.public_key().verify(blob[12:], expected)
    [got] = cs.verify_cosignatures(note_text, line, NAME, WITNESS.public_key())
    assert (got.name, got.timestamp, got.line) == (NAME, 1679315147, line)
    # Concatenated to the checkpoint, the note still parses (the spec's advice to clients).
    assert cs.parse_add_checkpoint(cs.build_add_checkpoint(0, [], note_text + line))


def test_the_cosigner_vkey_uses_type_4():
    vkey = cs.format_vkey(NAME, WITNESS.public_key())
    name, kid, key = vkey.split("+", 2)
    assert name == NAME
    assert bytes.fromhex(kid) == cs.key_id(NAME, WITNESS.public_key())
    assert base64.b64decode(key)[:1] == b"\x04"


def test_other_keys_lines_are_ignored_but_a_bad_one_of_ours_refuses():
    note_text = _checkpoint()
    other = cs.cosign(note_text, OTHER, "someone-else", 5)
    ours = cs.cosign(note_text, WITNESS, NAME, 6)
    assert [
        c.timestamp
        for c in cs.verify_cosignatures(note_text, other + ours, NAME, WITNESS.public_key())
    ] == [6]
    with pytest.raises(cs.WitnessFormatError, match="no cosignature"):
        cs.verify_cosignatures(note_text, other, NAME, WITNESS.public_key())
    # Same name, another key: its key id differs, so it is not ours.
    forged = cs.cosign(note_text, OTHER, NAME, 6)
    with pytest.raises(cs.WitnessFormatError, match="no cosignature"):
        cs.verify_cosignatures(note_text, forged, NAME, WITNESS.public_key())
    # Our key id, but over another checkpoint (or another time): does not verify.
    elsewhere = cs.cosign(_checkpoint(8), WITNESS, NAME, 6)
    with pytest.raises(cs.WitnessFormatError, match="does not verify"):
        cs.verify_cosignatures(note_text, elsewhere, NAME, WITNESS.public_key())
    blob = bytearray(base64.b64decode(ours.split(" ")[2]))
    blob[11] ^= 1  # the time changed
    retimed = f"\u2014 {NAME} {base64.b64encode(bytes(blob)).decode()}\n"
    with pytest.raises(cs.WitnessFormatError, match="does not verify"):
        cs.verify_cosignatures(note_text, retimed, NAME, WITNESS.public_key())


def test_a_checkpoint_signature_is_not_a_cosignature():
    """The same key's checkpoint signature (type 0x01) never passes as a cosignature."""
    note_text = sign_checkpoint("blo-hub/audit/X", 3, ROOT, WITNESS, NAME)
    line = note_text[note_text.index("\n\n") + 2 :]
    with pytest.raises(cs.WitnessFormatError):
        cs.verify_cosignatures(note_text, line, NAME, WITNESS.public_key())


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "no empty line"),
        (b"old 1\n", "no empty line"),
        (b"old 01\n\n", "canonical decimal"),
        (b"old -1\n\n", "canonical decimal"),
        (b"old +1\n\n", "canonical decimal"),
        (b"Old 1\n\n", "canonical decimal"),
        (b"old 1 \n\n", "canonical decimal"),
        (b"old 18446744073709551616\n\n", "canonical decimal"),
        (b"old 1\nnot base64\n\n", "proof line 1"),
        (b"old 1\n" + base64.b64encode(b"x" * 31) + b"\n\n", "proof line 1"),
        (b"old 0\n" + base64.b64encode(b"x" * 32) + b"\n\n", "must be empty"),
        (b"old 1\n" + (base64.b64encode(b"x" * 32) + b"\n") * 64 + b"\n", "more than 63"),
        (b"old 1\n\n\xff\xfe", "UTF-8"),
        (b"old 1\n\nnot a checkpoint\n", "malformed"),
        (b"old 1\n\n" + b"a" * (cs.MAX_BODY_BYTES), "over"),
    ],
)
def test_hostile_bodies_are_refused_with_a_reason(body, reason):
    with pytest.raises(cs.WitnessFormatError, match=reason):
        cs.parse_add_checkpoint(body)


def test_a_non_canonical_proof_hash_is_refused():
    good = base64.b64encode(b"\x00" * 31 + b"\x01").decode()
    bad = good[:-2] + "B="  # same 32 bytes, other unused bits
    note_text = _checkpoint()
    assert cs.parse_add_checkpoint(f"old 3\n{good}\n\n{note_text}".encode())
    with pytest.raises(cs.WitnessFormatError, match="canonical"):
        cs.parse_add_checkpoint(f"old 3\n{bad}\n\n{note_text}".encode())


def test_hostile_cosignature_answers_are_refused():
    note_text = _checkpoint()
    key = WITNESS.public_key()
    for answer in ("", "no newline", "not a signature line\n", f"\u2014 {NAME} !!!\n"):
        with pytest.raises(cs.WitnessFormatError):
            cs.verify_cosignatures(note_text, answer, NAME, key)
    short = base64.b64encode(cs.key_id(NAME, key) + b"\x00" * 8).decode()
    with pytest.raises(cs.WitnessFormatError, match="76 bytes"):
        cs.verify_cosignatures(note_text, f"\u2014 {NAME} {short}\n", NAME, key)
    with pytest.raises(ValueError, match="out of range"):
        cs.cosign(note_text, WITNESS, NAME, -1)
    with pytest.raises(ValueError, match="invalid cosigner name"):
        cs.cosign(note_text, WITNESS, "two words", 1)


def test_the_conflict_size_line():
    assert cs.format_size(42) == b"42\n"
    assert cs.parse_size(b"42\n") == 42
    for body in (b"42", b"042\n", b"-1\n", b"\n", b"4 2\n"):
        with pytest.raises(cs.WitnessFormatError):
            cs.parse_size(body)


def test_build_refuses_what_the_witness_would():
    with pytest.raises(ValueError, match="do not make"):
        cs.build_add_checkpoint(0, [ROOT], _checkpoint())
    with pytest.raises(ValueError, match="32 bytes"):
        cs.build_add_checkpoint(3, [b"short"], _checkpoint())
    with pytest.raises(ValueError, match="do not make"):
        cs.build_add_checkpoint(3, [ROOT] * 64, _checkpoint())
