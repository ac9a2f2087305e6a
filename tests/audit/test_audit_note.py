"""Checkpoints as C2SP signed notes: round trip, interop, and refusals.

Interop anchor: the example key and signature of Go's golang.org/x/mod/sumdb/note
(the reference signed-note implementation). Ed25519 is deterministic, so our
key id, vkey and signature line must reproduce its published bytes.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.audit.note import (
    BadSignatureError,
    MalformedNoteError,
    NoteError,
    UnknownKeyError,
    format_vkey,
    key_id,
    parse_checkpoint,
    parse_vkey,
    sign_checkpoint,
    verify_checkpoint,
)

GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
# A vkey whose base64 holds a "+" (transparency-dev/formats note tests).
PLUS_VKEY = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIG = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)

# The example of c2sp.org/tlog-checkpoint (its key is not published).
SPEC_EXAMPLE = (
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoR"
    "De4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)

NAME = "hub.example/audit"
KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"test key").digest())
OTHER = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"other").digest())
ROOT = hashlib.sha256(b"root").digest()
ROOT_B64 = base64.b64encode(ROOT).decode()
ORIGIN = "hub.example/agreement/42"


def _signed(**overrides: object) -> str:
    args = dict(origin=ORIGIN, size=7, root=ROOT, private_key=KEY, key_name=NAME)
    return sign_checkpoint(**(args | overrides))


def _line(name: str, kid: bytes, signature: bytes) -> str:
    return f"\u2014 {name} {base64.b64encode(kid + signature).decode()}\n"


# --- Interop --------------------------------------------------------------------


def test_go_reference_key_and_signature() -> None:
    seed = base64.b64decode(GO_SKEY.split("+", 4)[4])[1:]  # base64 may hold "+"
    go_key = Ed25519PrivateKey.from_private_bytes(seed)
    public = go_key.public_key()
    assert format_vkey("PeterNeumann", public) == GO_VKEY
    assert key_id("PeterNeumann", public).hex() == "c74f20a3"
    name, parsed = parse_vkey(GO_VKEY)
    assert name == "PeterNeumann"
    assert parsed == public
    blob = key_id(name, public) + go_key.sign(GO_TEXT.encode())
    assert base64.b64encode(blob).decode() == GO_SIG
    note = sign_checkpoint(ORIGIN, 3, ROOT, go_key, "PeterNeumann")
    assert verify_checkpoint(note, GO_VKEY).size == 3


def test_vkey_with_plus_in_base64() -> None:
    name, public = parse_vkey(PLUS_VKEY)
    assert name == "TEST"
    assert format_vkey(name, public) == PLUS_VKEY


def test_spec_example_parses() -> None:
    checkpoint = parse_checkpoint(SPEC_EXAMPLE)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert base64.b64encode(checkpoint.root) == b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
    (signature,) = checkpoint.signatures
    assert signature.name == "example.com/behind-the-sofa"
    assert len(signature.key_id) == 4
    assert len(signature.signature) == 64
    with pytest.raises(UnknownKeyError):  # same name, but not that key
        verify_checkpoint(SPEC_EXAMPLE, ("example.com/behind-the-sofa", KEY.public_key()))


# --- Round trip -----------------------------------------------------------------


def test_sign_format_and_round_trip() -> None:
    note = _signed(extensions=("time 2026-01-01T00:00:00Z",))
    lines = note.split("\n")
    assert lines[:5] == [ORIGIN, "7", ROOT_B64, "time 2026-01-01T00:00:00Z", ""]
    assert lines[5].startswith("\u2014 hub.example/audit ")
    assert lines[6:] == [""]
    vkey = format_vkey(NAME, KEY.public_key())
    for key in (vkey, (NAME, KEY.public_key()), (NAME, parse_vkey(vkey)[1])):
        got = verify_checkpoint(note, key, origin=ORIGIN)
        assert (got.origin, got.size, got.root) == (ORIGIN, 7, ROOT)
        assert got.extensions == ("time 2026-01-01T00:00:00Z",)
        assert [s.name for s in got.signatures] == [NAME]
    raw = KEY.public_key().public_bytes_raw()
    assert verify_checkpoint(note.encode(), (NAME, raw)) == parse_checkpoint(note)


def test_empty_tree_and_largest_size() -> None:
    empty = hashlib.sha256(b"").digest()
    assert verify_checkpoint(_signed(size=0, root=empty), (NAME, KEY.public_key())).size == 0
    big = _signed(size=2**64 - 1)
    assert verify_checkpoint(big, (NAME, KEY.public_key())).size == 2**64 - 1


def test_other_signers_are_ignored() -> None:
    """Witness cosignatures and rotated keys may share the note (the spec)."""
    note = _signed()
    body = note[: note.rindex("\n\n") + 1].encode()
    witness = "witness.example"
    extra = _line(witness, key_id(witness, OTHER.public_key()), OTHER.sign(body))
    same_name = _line(NAME, key_id(NAME, OTHER.public_key()), OTHER.sign(body))
    cosigned = note + extra + same_name
    assert verify_checkpoint(cosigned, (NAME, KEY.public_key())).size == 7
    assert len(parse_checkpoint(cosigned).signatures) == 3


# --- Refusals -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (f"{ORIGIN}\n", "hub.example/agreement/43\n"),
        ("\n7\n", "\n8\n"),
        (base64.b64encode(ROOT).decode(), base64.b64encode(hashlib.sha256(b"x").digest()).decode()),
        ("\n\n", "\nextra line\n\n"),
    ],
)
def test_tampered_body_is_refused(old: str, new: str) -> None:
    note = _signed()
    assert old in note
    with pytest.raises(BadSignatureError):
        verify_checkpoint(note.replace(old, new, 1), (NAME, KEY.public_key()))


def test_wrong_key_is_refused() -> None:
    note = _signed()
    with pytest.raises(UnknownKeyError):  # same name, other key: other key id
        verify_checkpoint(note, (NAME, OTHER.public_key()))
    with pytest.raises(UnknownKeyError):
        verify_checkpoint(note, format_vkey("someone.else", KEY.public_key()))
    # A line claiming our name and key id, signed by someone else.
    body = note[: note.rindex("\n\n") + 1]
    forged = body + "\n" + _line(NAME, key_id(NAME, KEY.public_key()), OTHER.sign(body.encode()))
    with pytest.raises(BadSignatureError):
        verify_checkpoint(forged, (NAME, KEY.public_key()))
    with pytest.raises(BadSignatureError):  # one good line does not excuse a bad one
        verify_checkpoint(note + forged[len(body) + 1 :], (NAME, KEY.public_key()))
    truncated = body + "\n" + _line(NAME, key_id(NAME, KEY.public_key()), b"x" * 10)
    with pytest.raises(BadSignatureError):
        verify_checkpoint(truncated, (NAME, KEY.public_key()))


def test_wrong_origin_is_refused() -> None:
    with pytest.raises(NoteError, match=r"not 'hub\.example/agreement/43'"):
        verify_checkpoint(_signed(), (NAME, KEY.public_key()), origin="hub.example/agreement/43")


def _noncanonical_root() -> str:
    text = ROOT_B64  # 43 characters carry 258 bits: 2 spare
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    return text[:42] + alphabet[alphabet.index(text[42]) ^ 1] + text[43:]


GOOD = _signed()
MALFORMED = {
    "no blank line": GOOD.replace("\n\n", "\n"),
    "hyphens not em dash": GOOD.replace("\u2014", "--"),
    "en dash not em dash": GOOD.replace("\u2014", "\u2013"),
    "no final newline": GOOD[:-1],
    "no signature": GOOD[: GOOD.rindex("\n\n") + 2],
    "crlf": GOOD.replace("\n", "\r\n"),
    "tab in origin": GOOD.replace(ORIGIN, ORIGIN + "\tx"),
    "leading zero size": GOOD.replace("\n7\n", "\n07\n"),
    "plus size": GOOD.replace("\n7\n", "\n+7\n"),
    "spaced size": GOOD.replace("\n7\n", "\n 7\n"),
    "underscore size": GOOD.replace("\n7\n", "\n1_0\n"),
    "fullwidth digit size": GOOD.replace("\n7\n", "\n\uff17\n"),
    "size over 64 bits": GOOD.replace("\n7\n", f"\n{2**64}\n"),
    "root not base64": GOOD.replace(ROOT_B64, "not*base64"),
    "root 31 bytes": GOOD.replace(ROOT_B64, base64.b64encode(ROOT[:31]).decode()),
    "root non-canonical": GOOD.replace(ROOT_B64, _noncanonical_root()),
    "root unpadded": GOOD.replace(ROOT_B64, ROOT_B64.rstrip("=")),
    "empty origin": GOOD.replace(ORIGIN, ""),
    "two lines": GOOD.replace(f"\n{ROOT_B64}", ""),
    "empty extension": GOOD.replace(f"{ROOT_B64}\n", f"{ROOT_B64}\n\nx\n"),
    "name with plus": GOOD.replace(f" {NAME} ", f" {NAME}+x "),
    "signature not base64": GOOD.replace(f" {NAME} ", f" {NAME} !"),
    "signature too short": GOOD[: GOOD.rindex(" ") + 1] + "AAAA\n",
    "double space": GOOD.replace(f"\u2014 {NAME}", f"\u2014  {NAME}"),
    "101 signatures": GOOD + GOOD[GOOD.rindex("\u2014") :] * 100,
}


@pytest.mark.parametrize("text", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_is_refused(text: str) -> None:
    assert text != GOOD
    with pytest.raises(MalformedNoteError):
        parse_checkpoint(text)
    with pytest.raises(MalformedNoteError):
        verify_checkpoint(text, (NAME, KEY.public_key()))


def test_bad_encodings_are_refused() -> None:
    with pytest.raises(MalformedNoteError, match="UTF-8"):
        parse_checkpoint(GOOD.encode().replace(b"agreement", b"agr\xffement"))
    with pytest.raises(MalformedNoteError, match="UTF-8"):
        parse_checkpoint(GOOD.replace("agreement", "agr\udcffement"))


@pytest.mark.parametrize(
    "vkey",
    [
        GO_VKEY.replace("c74f20a3", "c74f20a4"),  # id does not match
        GO_VKEY.replace("c74f20a3", "c74f20a"),
        GO_VKEY.replace("+ARpc", "+AhpC"),  # not type 0x01
        GO_VKEY[:-4],
        GO_VKEY + "+x",
        "PeterNeumann",
    ],
)
def test_bad_vkey_is_refused(vkey: str) -> None:
    with pytest.raises(NoteError):
        parse_vkey(vkey)
    with pytest.raises(NoteError):
        verify_checkpoint(GOOD, vkey)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"root": ROOT[:31]}, "root hash must be 32 bytes"),
        ({"size": -1}, "out of range"),
        ({"size": 2**64}, "out of range"),
        ({"origin": ""}, "single lines"),
        ({"origin": "two\nlines"}, "single lines"),
        ({"key_name": "has space"}, "invalid key name"),
        ({"key_name": "has+plus"}, "invalid key name"),
        ({"extensions": ("",)}, "single lines"),
        ({"extensions": ("a\nb",)}, "single lines"),
    ],
)
def test_sign_refuses_what_would_not_parse(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _signed(**overrides)
