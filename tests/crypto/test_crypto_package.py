"""Sealed packages and receipts, including interop with an independent HPKE (pyhpke)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.crypto.package import (
    MalformedPackage,
    Package,
    UnknownSigner,
    export_package,
    make_receipt,
    open_package,
    parse_package,
    verify_package,
    verify_receipt,
)
from hub.crypto.sealing import (
    SUITE_MLKEM768_X25519,
    SUITE_X25519,
    BadSignature,
    HpkePrivateKey,
    KnownSigner,
    NotAReader,
    Sealed,
    mlkem_available,
    seal,
)

pyhpke = pytest.importorskip("pyhpke", reason="pyhpke is a test dependency (pip install pyhpke)")

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
BASE = {"agreement": "VN-LA-MOU-2019", "sender": "QB", "recipient": "KM"}


def binding(record_type: str, record_id: str, **over: str) -> dict[str, str]:
    return {**BASE, "record_type": record_type, "record_id": record_id, **over}


class Org:
    def __init__(self, code: str, suite: str = SUITE_X25519) -> None:
        self.code = code
        self.enc = HpkePrivateKey.generate(suite)
        self.sign = Ed25519PrivateKey.generate()
        self.known = KnownSigner(code, 1, self.sign.public_key())

    @property
    def signer(self) -> tuple[str, int, Ed25519PrivateKey]:
        return (self.code, 1, self.sign)


@pytest.fixture(params=[SUITE_X25519, SUITE_MLKEM768_X25519])
def suite(request: pytest.FixtureRequest) -> str:
    if request.param == SUITE_MLKEM768_X25519 and not mlkem_available():
        pytest.skip("backend has no ML-KEM")
    return request.param


@pytest.fixture
def orgs(suite: str) -> dict[str, Org]:
    return {code: Org(code, suite) for code in ("QB", "KM", "SV")}


def known(*orgs: Org) -> dict[str, KnownSigner]:
    return {o.known.fingerprint: o.known for o in orgs}


def seal_item(orgs: dict[str, Org], plaintext: bytes, bind: dict[str, str]) -> Sealed:
    sender = orgs[bind["sender"]]
    readers = {code: (1, orgs[code].enc.public) for code in (bind["sender"], bind["recipient"])}
    return seal(plaintext, binding=bind, readers=readers, signer=sender.signer)


def exchange_bundle(orgs: dict[str, Org]) -> list[Sealed]:
    """A request from QB, its attachment, and KM's reply: all readable by QB and KM."""
    return [
        seal_item(orgs, b"request body", binding("exchange", "ex-1")),
        seal_item(orgs, os.urandom(4096), binding("attachment", "ex-1/att-1")),
        seal_item(orgs, "ຄຳຕອບ".encode(), binding("exchange", "ex-2", sender="KM", recipient="QB")),
    ]


def test_single_item_round_trip(orgs: dict[str, Org]) -> None:
    item = seal_item(orgs, b"secret request", binding("exchange", "ex-1"))
    text = export_package([item], recipient="KM", exporter=orgs["QB"].signer)
    verified = verify_package(parse_package(text), known(orgs["QB"]))
    [opened] = open_package(verified, orgs["KM"].enc)
    assert opened.plaintext == b"secret request"
    assert opened.binding == binding("exchange", "ex-1")
    assert opened.signer_org == "QB"
    assert "secret request" not in text
    # Only the recipient's wrap travels.
    assert json.loads(text)["items"][0]["wrapped_key"]["org"] == "KM"
    assert item.wraps["QB"].fingerprint not in text


def test_bundle_round_trip_with_replies_from_both_sides(orgs: dict[str, Org]) -> None:
    items = exchange_bundle(orgs)
    for recipient in ("KM", "QB"):
        text = export_package(items, recipient=recipient, exporter=orgs["QB"].signer)
        verified = verify_package(parse_package(text), known(orgs["QB"], orgs["KM"]))
        opened = open_package(verified, orgs[recipient].enc)
        assert [o.binding["record_id"] for o in opened] == ["ex-1", "ex-1/att-1", "ex-2"]
        assert opened[2].plaintext == "ຄຳຕອບ".encode()
        assert [o.signer_org for o in opened] == ["QB", "QB", "KM"]


def test_package_matches_its_schema_and_example(orgs: dict[str, Org]) -> None:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    schema = json.loads((SCHEMAS / "sealed-package.schema.json").read_text())
    validator = jsonschema_rs.Draft202012Validator(schema)
    text = export_package(exchange_bundle(orgs), recipient="KM", exporter=orgs["QB"].signer)
    validator.validate(json.loads(text))
    validator.validate(json.loads((SCHEMAS / "sealed-package.example.json").read_text()))
    receipt_schema = {**schema, "$ref": "#/$defs/receipt"}
    for key in ("required", "properties", "additionalProperties", "type"):
        receipt_schema.pop(key)
    receipt = make_receipt(parse_package(text).digest, "KM", orgs["KM"].signer)
    jsonschema_rs.Draft202012Validator(receipt_schema).validate(json.loads(receipt))
    assert not validator.is_valid({**json.loads(text), "version": 2})


# --- refusals -----------------------------------------------------------------


def test_package_for_another_recipient_does_not_open(orgs: dict[str, Org]) -> None:
    item = seal_item(orgs, b"for KM only", binding("exchange", "ex-1"))
    verified = verify_package(
        parse_package(export_package([item], recipient="KM", exporter=orgs["QB"].signer)),
        known(orgs["QB"]),
    )
    with pytest.raises(NotAReader):
        open_package(verified, orgs["SV"].enc)
    with pytest.raises(NotAReader):
        export_package([item], recipient="SV", exporter=orgs["QB"].signer)


def test_unknown_signer_is_refused(orgs: dict[str, Org]) -> None:
    item = seal_item(orgs, b"x", binding("exchange", "ex-1"))
    pkg = parse_package(export_package([item], recipient="KM", exporter=orgs["QB"].signer))
    with pytest.raises(UnknownSigner):
        verify_package(pkg, {})
    with pytest.raises(UnknownSigner):
        verify_package(pkg, known(orgs["SV"]))
    # A key we trust for KM does not vouch for QB, even if it made the signature.
    impostor = KnownSigner("KM", 1, orgs["QB"].sign.public_key())
    with pytest.raises(UnknownSigner):
        verify_package(pkg, {impostor.fingerprint: impostor})


def test_item_signed_by_an_unknown_sender_is_refused(orgs: dict[str, Org]) -> None:
    text = export_package(exchange_bundle(orgs), recipient="KM", exporter=orgs["QB"].signer)
    with pytest.raises(UnknownSigner):
        verify_package(parse_package(text), known(orgs["QB"]))  # KM's reply: KM unknown


def test_opening_requires_verification(orgs: dict[str, Org]) -> None:
    item = seal_item(orgs, b"x", binding("exchange", "ex-1"))
    pkg = parse_package(export_package([item], recipient="KM", exporter=orgs["QB"].signer))
    with pytest.raises(TypeError, match="verify"):
        open_package(pkg, orgs["KM"].enc)  # type: ignore[arg-type]


def tamper(text: str, change) -> str:
    doc = json.loads(text)
    change(doc)
    return json.dumps(doc)


def flip_b64(value: str) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            lambda d: d["items"][0].update(ciphertext=flip_b64(d["items"][0]["ciphertext"])),
            id="ciphertext",
        ),
        pytest.param(
            lambda d: d["items"][0].update(nonce=flip_b64(d["items"][0]["nonce"])), id="nonce"
        ),
        pytest.param(
            lambda d: d["items"][0].update(signature=flip_b64(d["items"][0]["signature"])),
            id="item-signature",
        ),
        pytest.param(
            lambda d: d.update(signature=flip_b64(d["signature"])), id="package-signature"
        ),
        pytest.param(lambda d: d["items"][0]["binding"].update(record_id="ex-9"), id="binding"),
        pytest.param(lambda d: d["items"].pop(1), id="dropped-item"),
        pytest.param(lambda d: d["items"].reverse(), id="reordered"),
        pytest.param(lambda d: d.update(created="2030-01-01T00:00:00Z"), id="created"),
    ],
)
def test_tampered_package_is_refused(orgs: dict[str, Org], change) -> None:
    text = export_package(exchange_bundle(orgs)[:2], recipient="KM", exporter=orgs["QB"].signer)
    with pytest.raises(BadSignature):
        verify_package(parse_package(tamper(text, change)), known(orgs["QB"]))


def test_tampered_wrapped_key_does_not_open(orgs: dict[str, Org]) -> None:
    from hub.crypto.sealing import TamperedCiphertext

    item = seal_item(orgs, b"x", binding("exchange", "ex-1"))
    text = export_package([item], recipient="KM", exporter=orgs["QB"].signer)
    wrapped = json.loads(text)["items"][0]["wrapped_key"]
    text = tamper(text, lambda d: d["items"][0]["wrapped_key"].update(enc=flip_b64(wrapped["enc"])))
    verified = verify_package(parse_package(text), known(orgs["QB"]))  # wraps are not signed
    with pytest.raises(TamperedCiphertext):
        open_package(verified, orgs["KM"].enc)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(version=2), "version"),
        (lambda d: d.update(version=True), "version"),
        (lambda d: d.update(format="something-else"), "format"),
        (lambda d: d.pop("exporter"), "missing"),
        (lambda d: d["items"][0].pop("signer"), "missing"),
        (lambda d: d["items"][0]["binding"].pop("agreement"), "missing"),
        (lambda d: d.update(comment="hi"), "unknown"),
        (lambda d: d["items"][0]["wrapped_key"].update(org="SV"), "not 'KM'"),
        (lambda d: d["items"][0].update(nonce="not base64!"), "base64"),
        (lambda d: d["items"][0].update(cipher="AES-128-CBC"), "cipher"),
        (lambda d: d.update(items=[]), "non-empty"),
        (lambda d: d.update(created="yesterday"), "created"),
    ],
)
def test_malformed_package_is_refused(orgs: dict[str, Org], change, message: str) -> None:
    item = seal_item(orgs, b"x", binding("exchange", "ex-1"))
    text = export_package([item], recipient="KM", exporter=orgs["QB"].signer)
    with pytest.raises(MalformedPackage, match=message):
        parse_package(tamper(text, change))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        '{"format": "blo-hub-package", "format": "blo-hub-package", "version": 1}',
        '{"format": "blo-hub-package", "version": 1.0}',
        '{"format": "blo-hub-package", "version": NaN}',
    ],
)
def test_unparseable_package_is_refused(text: str) -> None:
    with pytest.raises(MalformedPackage):
        parse_package(text)


# --- receipts -----------------------------------------------------------------


def test_receipt_round_trip(orgs: dict[str, Org]) -> None:
    item = seal_item(orgs, b"x", binding("exchange", "ex-1"))
    pkg = parse_package(export_package([item], recipient="KM", exporter=orgs["QB"].signer))
    when = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    text = make_receipt(pkg.digest, "KM", orgs["KM"].signer, received=when)
    receipt = verify_receipt(text, known(orgs["KM"]))
    assert receipt.package_sha256 == pkg.digest
    assert (receipt.recipient, receipt.received) == ("KM", "2026-05-04T09:00:00Z")


def test_bad_receipts_are_refused(orgs: dict[str, Org]) -> None:
    digest = "ab" * 32
    text = make_receipt(digest, "KM", orgs["KM"].signer)
    with pytest.raises(UnknownSigner):
        verify_receipt(text, known(orgs["QB"]))
    with pytest.raises(BadSignature):
        verify_receipt(
            tamper(text, lambda d: d.update(package_sha256="cd" * 32)), known(orgs["KM"])
        )
    with pytest.raises(MalformedPackage):
        verify_receipt(tamper(text, lambda d: d.update(version=2)), known(orgs["KM"]))
    with pytest.raises(BadSignature):
        verify_receipt(
            tamper(text, lambda d: d.update(recipient="SV")), known(orgs["KM"], orgs["SV"])
        )
    with pytest.raises(ValueError, match="recipient"):
        make_receipt(digest, "KM", orgs["SV"].signer)


# --- interop: an independent implementation, following only schemas/README.md ---------

EXAMPLE_KM_PRIVATE = "f07c32350bd362254bc9b3b2a76e9a61d024366f35af62589405feaab75fc67b"
EXAMPLE_QB_PUBLIC = "26cb6e0ce0c9433ed356083d9efc988585d998db9231239bd95c96897d6663bd"
EXAMPLE_DIGEST = "3b8ee44fa706f0260f3e6c95214286c84789f3117bab7ecb33b2fcb1465481ad"


def jcs(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def x25519_suite():
    return pyhpke.CipherSuite.new(
        pyhpke.KEMId.DHKEM_X25519_HKDF_SHA256, pyhpke.KDFId.HKDF_SHA256, pyhpke.AEADId.AES256_GCM
    )


def independent_open(text: str, recipient_private: bytes, signer_public: bytes) -> list[bytes]:
    """Read a package as a partner's own system would: pyhpke, no hub code."""
    doc = json.loads(text)
    assert (doc["format"], doc["version"]) == ("blo-hub-package", 1)
    signer = Ed25519PublicKey.from_public_bytes(signer_public)
    fingerprint = hashlib.sha256(signer_public).hexdigest()
    suite = x25519_suite()
    secret_key = suite.kem.deserialize_private_key(recipient_private)
    plaintexts, digests = [], []
    for item in doc["items"]:
        assert item["signer"]["fingerprint"] == fingerprint
        assert item["signer"]["org"] == item["binding"]["sender"]
        ciphertext = base64.b64decode(item["ciphertext"])
        signed = {
            "format": "blo-hub-seal",
            "version": 1,
            "cipher": item["cipher"],
            "binding": item["binding"],
            "ciphertext_sha256": hashlib.sha256(ciphertext).hexdigest(),
            "nonce": item["nonce"],
            "key_commitment": item["key_commitment"],
            "signer": item["signer"],
        }
        signer.verify(base64.b64decode(item["signature"]), jcs(signed))
        digests.append(hashlib.sha256(jcs(signed)).hexdigest())

        info = jcs(item["binding"])
        wrapped = base64.b64decode(item["wrapped_key"]["enc"])
        assert item["wrapped_key"]["suite"] == "HPKE-X25519-SHA256-AES256GCM"
        context = suite.create_recipient_context(wrapped[:32], secret_key, info=info)
        data_key = context.open(wrapped[32:], aad=b"")
        commitment = hmac.new(data_key, b"blo-hub key commitment v1", hashlib.sha256).hexdigest()
        assert commitment == item["key_commitment"]
        nonce = base64.b64decode(item["nonce"])
        plaintexts.append(AESGCM(data_key).decrypt(nonce, ciphertext, info))
    manifest = {
        "format": "blo-hub-package",
        "version": 1,
        "recipient": doc["recipient"],
        "created": doc["created"],
        "items": digests,
        "exporter": doc["exporter"],
    }
    signer.verify(base64.b64decode(doc["signature"]), jcs(manifest))
    return plaintexts


def test_pyhpke_opens_a_package_the_hub_sealed() -> None:
    # X25519 suite: pyhpke 0.6 has no ML-KEM-768+X25519 (X-Wing) KEM, so the
    # hybrid suite cannot be checked against it.
    qb, km = Org("QB"), Org("KM")
    items = [
        seal_item({"QB": qb, "KM": km}, b"first", binding("exchange", "ex-1")),
        seal_item({"QB": qb, "KM": km}, os.urandom(100_000), binding("attachment", "ex-1/a")),
    ]
    text = export_package(items, recipient="KM", exporter=qb.signer)
    opened = independent_open(text, km.enc.private_bytes(), qb.sign.public_key().public_bytes_raw())
    assert opened[0] == b"first"
    assert len(opened[1]) == 100_000


def test_the_published_example_opens_independently_and_in_the_hub() -> None:
    text = (SCHEMAS / "sealed-package.example.json").read_text()
    qb_public = bytes.fromhex(EXAMPLE_QB_PUBLIC)
    opened = independent_open(text, bytes.fromhex(EXAMPLE_KM_PRIVATE), qb_public)
    assert json.loads(opened[0])["subject"] == "Request for information"
    assert opened[1] == b"EXAMPLE ONLY: attachment bytes"

    pkg = parse_package(text)
    assert pkg.digest == EXAMPLE_DIGEST
    signer = KnownSigner("QB", 1, Ed25519PublicKey.from_public_bytes(qb_public))
    verified = verify_package(pkg, {signer.fingerprint: signer})
    key = HpkePrivateKey.from_bytes(SUITE_X25519, bytes.fromhex(EXAMPLE_KM_PRIVATE))
    assert [o.plaintext for o in open_package(verified, key)] == opened


def test_the_hub_opens_a_package_written_by_pyhpke() -> None:
    """The other direction: a partner's system writes a package from the README alone."""
    km_sign = Ed25519PrivateKey.generate()
    km_public = km_sign.public_key().public_bytes_raw()
    km_fp = hashlib.sha256(km_public).hexdigest()
    qb_enc = HpkePrivateKey.generate(SUITE_X25519)
    suite = x25519_suite()
    recipient_key = suite.kem.deserialize_public_key(qb_enc.public.raw)

    bind = binding("exchange", "km-77", sender="KM", recipient="QB")
    info = jcs(bind)
    data_key, nonce = os.urandom(32), os.urandom(12)
    ciphertext = AESGCM(data_key).encrypt(nonce, "ຂໍ້ມູນ".encode(), info)
    enc, sender = suite.create_sender_context(recipient_key, info=info)
    wrapped = enc + sender.seal(data_key, aad=b"")
    commitment = hmac.new(data_key, b"blo-hub key commitment v1", hashlib.sha256).hexdigest()
    signer = {"org": "KM", "key_version": 1, "fingerprint": km_fp}
    signed = {
        "format": "blo-hub-seal",
        "version": 1,
        "cipher": "AES-256-GCM",
        "binding": bind,
        "ciphertext_sha256": hashlib.sha256(ciphertext).hexdigest(),
        "nonce": b64(nonce),
        "key_commitment": commitment,
        "signer": signer,
    }
    item = {
        **{k: signed[k] for k in ("binding", "cipher", "nonce", "key_commitment", "signer")},
        "ciphertext": b64(ciphertext),
        "wrapped_key": {
            "org": "QB",
            "key_version": 3,
            "suite": "HPKE-X25519-SHA256-AES256GCM",
            "fingerprint": qb_enc.public.fingerprint,
            "enc": b64(wrapped),
        },
        "signature": b64(km_sign.sign(jcs(signed))),
    }
    manifest = {
        "format": "blo-hub-package",
        "version": 1,
        "recipient": "QB",
        "created": "2026-05-05T01:02:03Z",
        "items": [hashlib.sha256(jcs(signed)).hexdigest()],
        "exporter": signer,
    }
    document = {**manifest, "items": [item], "signature": b64(km_sign.sign(jcs(manifest)))}

    known_km = KnownSigner("KM", 1, km_sign.public_key())
    pkg = parse_package(json.dumps(document))
    assert pkg.digest == hashlib.sha256(jcs(manifest)).hexdigest()
    [opened] = open_package(verify_package(pkg, {km_fp: known_km}), qb_enc)
    assert opened.plaintext == "ຂໍ້ມູນ".encode()


def test_sealed_items_keep_their_digest_through_a_package(orgs: dict[str, Org]) -> None:
    item = seal_item(orgs, b"x", binding("exchange", "ex-1"))
    pkg: Package = parse_package(export_package([item], recipient="KM", exporter=orgs["QB"].signer))
    assert pkg.items[0].digest == item.digest
    assert replace(pkg.items[0], wraps=item.wraps) == item


# --- the RFC 9180 vector ----------------------------------------------------------------


def vectors_dir() -> Path | None:
    for candidate in (
        Path(__file__).resolve().parents[3] / "shared" / "vectors",
        Path(os.environ["HUB_VECTORS_DIR"]) if os.environ.get("HUB_VECTORS_DIR") else None,
    ):
        if candidate is not None and (candidate / "rfc9180").is_dir():
            return candidate
    return None


def load_vector() -> tuple[dict, bytes]:
    root = vectors_dir()
    if root is None:
        message = "RFC 9180 vectors not found (../shared/vectors or HUB_VECTORS_DIR)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    raw = (root / "rfc9180" / "x25519-sha256-aes256gcm-base.json").read_bytes()
    return json.loads(raw), raw


# The copy of the vector shipped in ../shared/vectors (sha256 below) is not
# self-consistent: its skRm/pkRm/skEm/enc give the DHKEM shared secret
# 1c60a52b…6a30 (pyhpke and an independent RFC 9180 computation agree), not
# the file's e94d4317…278b, and that shared_secret does not derive the file's
# key and base_nonce either; only key -> ciphertexts agrees. pyhpke itself
# passes RFC 9180 A.1.1 below, so the file is at fault. Strict: once the file
# is replaced by a correct copy this marker no longer applies.
_INCONSISTENT_VECTOR = "98c93246573a88155519007ceac9df348ecf37c65701bfb7296c7581a7122683"


def test_pyhpke_passes_the_shared_rfc9180_vector(request: pytest.FixtureRequest) -> None:
    vector, raw = load_vector()
    if hashlib.sha256(raw).hexdigest() == _INCONSISTENT_VECTOR:
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                reason="shared/vectors/rfc9180 copy is internally inconsistent (see comment)",
            )
        )
    assert (vector["mode"], vector["kem_id"], vector["kdf_id"], vector["aead_id"]) == (0, 32, 1, 2)
    suite = pyhpke.CipherSuite.new(
        pyhpke.KEMId(vector["kem_id"]),
        pyhpke.KDFId(vector["kdf_id"]),
        pyhpke.AEADId(vector["aead_id"]),
    )
    h = bytes.fromhex
    secret_key = suite.kem.deserialize_private_key(h(vector["skRm"]))
    assert suite.kem.decap(h(vector["enc"]), secret_key) == h(vector["shared_secret"])
    context = suite.create_recipient_context(h(vector["enc"]), secret_key, info=h(vector["info"]))
    for encryption in vector["encryptions"]:
        opened = context.open(h(encryption["ciphertext"]), aad=h(encryption["aad"]))
        assert opened == h(encryption["plaintext"])
    # And as a sender, with the vector's ephemeral key: the same bytes come out.
    ephemeral = pyhpke.KEMKeyPair(
        suite.kem.deserialize_private_key(h(vector["skEm"])),
        suite.kem.deserialize_public_key(h(vector["pkEm"])),
    )
    enc, sender = suite.create_sender_context(
        suite.kem.deserialize_public_key(h(vector["pkRm"])), info=h(vector["info"]), eks=ephemeral
    )
    assert enc == h(vector["enc"])
    for encryption in vector["encryptions"]:
        sealed = sender.seal(h(encryption["plaintext"]), aad=h(encryption["aad"]))
        assert sealed == h(encryption["ciphertext"])


def test_pyhpke_passes_rfc9180_appendix_a11() -> None:
    """RFC 9180 A.1.1 (DHKEM(X25519), HKDF-SHA256, AES-128-GCM, base), first encryption."""
    suite = pyhpke.CipherSuite.new(
        pyhpke.KEMId.DHKEM_X25519_HKDF_SHA256, pyhpke.KDFId.HKDF_SHA256, pyhpke.AEADId.AES128_GCM
    )
    h = bytes.fromhex
    secret_key = suite.kem.deserialize_private_key(
        h("4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8")
    )
    enc = h("37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431")
    assert suite.kem.decap(enc, secret_key) == h(
        "fe0e18c9f024ce43799ae393c7e8fe8fce9d218875e8227b0187c04e7d2ea1fc"
    )
    context = suite.create_recipient_context(enc, secret_key, info=b"Ode on a Grecian Urn")
    ciphertext = h(
        "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a"
    )
    assert context.open(ciphertext, aad=b"Count-0") == b"Beauty is truth, truth beauty"
