"""Envelope sealing: real HPKE, AES-GCM and Ed25519, no mocks."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.crypto.sealing import (
    SUITE_MLKEM768_X25519,
    SUITE_X25519,
    BadSignature,
    BindingMismatch,
    HpkePrivateKey,
    HpkePublicKey,
    NotAReader,
    Sealed,
    TamperedCiphertext,
    WrongKey,
    binding_bytes,
    mlkem_available,
    open_sealed,
    rewrap,
    seal,
)

SUITES = [
    SUITE_X25519,
    pytest.param(
        SUITE_MLKEM768_X25519,
        marks=pytest.mark.skipif(not mlkem_available(), reason="backend has no ML-KEM"),
    ),
]

BINDING = {
    "record_type": "exchange",
    "record_id": "7f1e0c7a-1b2c-4d5e-8f90-a1b2c3d4e5f6",
    "agreement": "VN-LA-MOU-2019",
    "sender": "QB",
    "recipient": "KM",
}
OTHER_RECORD = {**BINDING, "record_id": "00000000-0000-4000-8000-000000000001"}


class Org:
    def __init__(self, code: str, suite: str) -> None:
        self.code = code
        self.enc = HpkePrivateKey.generate(suite)
        self.sign = Ed25519PrivateKey.generate()

    @property
    def signer(self) -> tuple[str, int, Ed25519PrivateKey]:
        return (self.code, 1, self.sign)


@pytest.fixture(params=SUITES)
def orgs(request: pytest.FixtureRequest) -> dict[str, Org]:
    return {code: Org(code, request.param) for code in ("QB", "KM", "SV")}


def seal_for(orgs: dict[str, Org], plaintext: bytes = b"payload", binding=BINDING) -> Sealed:
    return seal(
        plaintext,
        binding=binding,
        readers={code: (1, orgs[code].enc.public) for code in ("QB", "KM")},
        signer=orgs["QB"].signer,
    )


def open_as(orgs: dict[str, Org], sealed: Sealed, reader: str = "KM", binding=BINDING) -> bytes:
    return open_sealed(
        sealed,
        binding=binding,
        reader_org=reader,
        reader_private_key=orgs[reader].enc,
        signer_public_key=orgs["QB"].sign.public_key(),
    )


def test_round_trip_for_every_reader(orgs: dict[str, Org]) -> None:
    text = "Yêu cầu cung cấp thông tin / ຄຳຮ້ອງຂໍຂໍ້ມູນ".encode()
    sealed = seal_for(orgs, text)
    assert open_as(orgs, sealed, "KM") == text
    assert open_as(orgs, sealed, "QB") == text
    assert text not in sealed.ciphertext
    assert set(sealed.wraps) == {"QB", "KM"}


def test_ten_megabytes_round_trip(orgs: dict[str, Org]) -> None:
    payload = os.urandom(10 * 1024 * 1024)
    sealed = seal_for(orgs, payload)
    assert len(sealed.ciphertext) == len(payload) + 16  # encrypted once: one tag, no copies
    assert open_as(orgs, sealed) == payload


def test_mixed_suites_coexist() -> None:
    if not mlkem_available():
        pytest.skip("backend has no ML-KEM")
    qb, km = Org("QB", SUITE_MLKEM768_X25519), Org("KM", SUITE_X25519)
    sealed = seal(
        b"mixed",
        binding=BINDING,
        readers={"QB": (1, qb.enc.public), "KM": (1, km.enc.public)},
        signer=qb.signer,
    )
    assert sealed.wraps["QB"].suite == SUITE_MLKEM768_X25519
    assert sealed.wraps["KM"].suite == SUITE_X25519
    for org in (qb, km):
        assert (
            open_sealed(
                sealed,
                binding=BINDING,
                reader_org=org.code,
                reader_private_key=org.enc,
                signer_public_key=qb.sign.public_key(),
            )
            == b"mixed"
        )


def test_key_bytes_round_trip(orgs: dict[str, Org]) -> None:
    key = orgs["KM"].enc
    again = HpkePrivateKey.from_bytes(key.suite, key.private_bytes())
    assert again.public == key.public
    assert HpkePublicKey(key.suite, key.public.raw).fingerprint == key.public.fingerprint
    assert key.private_bytes().hex() not in repr(key)


def test_binding_moved_to_another_record_fails(orgs: dict[str, Org]) -> None:
    sealed = seal_for(orgs)
    with pytest.raises(BindingMismatch):
        open_as(orgs, sealed, binding=OTHER_RECORD)


def test_rewritten_binding_breaks_the_signature(orgs: dict[str, Org]) -> None:
    moved = replace(seal_for(orgs), binding=OTHER_RECORD)
    with pytest.raises(BadSignature):
        open_as(orgs, moved, binding=OTHER_RECORD)


def test_wrapped_key_is_bound_to_its_record(orgs: dict[str, Org]) -> None:
    # Even the sender re-signing the same ciphertext and wraps for another record
    # does not make them open there: the HPKE info and the AES-GCM AAD differ.
    sealed = seal_for(orgs)
    moved = replace(sealed, binding=OTHER_RECORD)
    moved = replace(moved, signature=orgs["QB"].sign.sign(moved.signed_bytes()))
    with pytest.raises(TamperedCiphertext):
        open_as(orgs, moved, binding=OTHER_RECORD)


def test_wrap_from_another_payload_fails(orgs: dict[str, Org]) -> None:
    first, second = seal_for(orgs, b"one"), seal_for(orgs, b"two")
    swapped = replace(first, wraps={**first.wraps, "KM": second.wraps["KM"]})
    with pytest.raises(TamperedCiphertext):
        open_as(orgs, swapped)


@pytest.mark.parametrize("field", ["ciphertext", "nonce", "signature"])
def test_tampering_is_caught_by_the_signature(orgs: dict[str, Org], field: str) -> None:
    sealed = seal_for(orgs)
    value = bytearray(getattr(sealed, field))
    value[0] ^= 0x01
    with pytest.raises(BadSignature):
        open_as(orgs, replace(sealed, **{field: bytes(value)}))


def test_truncated_ciphertext_is_refused(orgs: dict[str, Org]) -> None:
    sealed = seal_for(orgs)
    with pytest.raises(BadSignature):
        open_as(orgs, replace(sealed, ciphertext=sealed.ciphertext[:-1]))


def test_bad_tag_with_a_valid_signature_is_tampered_ciphertext(orgs: dict[str, Org]) -> None:
    # A signer who signs a broken ciphertext still cannot get it opened.
    sealed = seal_for(orgs)
    broken = bytearray(sealed.ciphertext)
    broken[-1] ^= 0x01
    forged = replace(sealed, ciphertext=bytes(broken))
    forged = replace(forged, signature=orgs["QB"].sign.sign(forged.signed_bytes()))
    with pytest.raises(TamperedCiphertext):
        open_as(orgs, forged)


def test_tampered_wrap_is_refused(orgs: dict[str, Org]) -> None:
    sealed = seal_for(orgs)
    wrap = sealed.wraps["KM"]
    enc = bytearray(wrap.enc)
    enc[-1] ^= 0x01
    tampered = replace(sealed, wraps={**sealed.wraps, "KM": replace(wrap, enc=bytes(enc))})
    with pytest.raises(TamperedCiphertext):
        open_as(orgs, tampered)
    assert open_as(orgs, tampered, "QB") == b"payload"


def test_sender_cannot_give_readers_different_data_keys(orgs: dict[str, Org]) -> None:
    # The signed key commitment pins one data key: a wrap of another key is refused.
    sealed = seal_for(orgs)
    other = seal_for(orgs)
    evil = replace(sealed, wraps={**sealed.wraps, "KM": other.wraps["KM"]})
    evil = replace(evil, signature=orgs["QB"].sign.sign(evil.signed_bytes()))
    with pytest.raises(TamperedCiphertext):
        open_as(orgs, evil)


def test_signature_by_another_key_is_refused(orgs: dict[str, Org]) -> None:
    sealed = seal_for(orgs)
    with pytest.raises(BadSignature):
        open_sealed(
            sealed,
            binding=BINDING,
            reader_org="KM",
            reader_private_key=orgs["KM"].enc,
            signer_public_key=orgs["SV"].sign.public_key(),
        )


def test_only_the_sender_signs(orgs: dict[str, Org]) -> None:
    with pytest.raises(ValueError, match="sender"):
        seal(
            b"x",
            binding=BINDING,
            readers={"KM": (1, orgs["KM"].enc.public)},
            signer=orgs["SV"].signer,
        )


def test_non_reader_is_refused(orgs: dict[str, Org]) -> None:
    with pytest.raises(NotAReader):
        open_as(orgs, seal_for(orgs), "SV")


def test_reader_with_the_wrong_key_is_told_so(orgs: dict[str, Org]) -> None:
    sealed = seal_for(orgs)
    with pytest.raises(WrongKey, match="version 1"):
        open_sealed(
            sealed,
            binding=BINDING,
            reader_org="KM",
            reader_private_key=orgs["SV"].enc,
            signer_public_key=orgs["QB"].sign.public_key(),
        )


@pytest.mark.parametrize("new_suite", SUITES)
def test_rotation_and_rewrap_keep_everything_readable(orgs: dict[str, Org], new_suite: str) -> None:
    sealed = seal_for(orgs, b"old payload")
    new_key = HpkePrivateKey.generate(new_suite)

    rewrapped = rewrap(sealed, "KM", orgs["KM"].enc, 2, new_key.public, BINDING)

    assert rewrapped.ciphertext is sealed.ciphertext
    assert rewrapped.signature == sealed.signature
    assert rewrapped.wraps["KM"].version == 2
    assert rewrapped.wraps["KM"].suite == new_suite
    assert rewrapped.wraps["QB"] == sealed.wraps["QB"]
    opened = open_sealed(
        rewrapped,
        binding=BINDING,
        reader_org="KM",
        reader_private_key=new_key,
        signer_public_key=orgs["QB"].sign.public_key(),
    )
    assert opened == b"old payload"
    assert open_as(orgs, rewrapped, "QB") == b"old payload"
    # Until rewrapped, the old key still opens the old payload.
    assert open_as(orgs, sealed, "KM") == b"old payload"
    with pytest.raises(WrongKey):
        open_as(orgs, rewrapped, "KM")


def test_rewrap_needs_the_right_binding_and_a_reader(orgs: dict[str, Org]) -> None:
    sealed = seal_for(orgs)
    new_key = HpkePrivateKey.generate(SUITE_X25519)
    with pytest.raises(BindingMismatch):
        rewrap(sealed, "KM", orgs["KM"].enc, 2, new_key.public, OTHER_RECORD)
    with pytest.raises(NotAReader):
        rewrap(sealed, "SV", orgs["SV"].enc, 2, new_key.public, BINDING)


def test_header_round_trip(orgs: dict[str, Org]) -> None:
    sealed = seal_for(orgs)
    again = Sealed.from_header(sealed.header(), sealed.ciphertext)
    assert again == sealed
    assert open_as(orgs, again) == b"payload"


def test_binding_must_be_complete() -> None:
    with pytest.raises(ValueError, match="exactly"):
        binding_bytes({k: v for k, v in BINDING.items() if k != "agreement"})
    with pytest.raises(ValueError, match="non-empty"):
        binding_bytes({**BINDING, "record_id": ""})
    assert binding_bytes(BINDING) == (
        b'{"agreement":"VN-LA-MOU-2019","recipient":"KM",'
        b'"record_id":"7f1e0c7a-1b2c-4d5e-8f90-a1b2c3d4e5f6","record_type":"exchange","sender":"QB"}'
    )


def test_a_payload_needs_a_reader(orgs: dict[str, Org]) -> None:
    with pytest.raises(ValueError, match="reader"):
        seal(b"x", binding=BINDING, readers={}, signer=orgs["QB"].signer)
