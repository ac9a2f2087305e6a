"""The file keyring: real Argon2id (cheap parameters) and AES-256-GCM on disk."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import unicodedata
from pathlib import Path

import pytest

import hub.crypto.keyring as keyring_module
from hub.crypto.keyring import (
    DEFAULT_KDF,
    HUB,
    CorruptKeyFile,
    KdfParams,
    KeyConflict,
    KeyNotFound,
    Keyring,
    WrongOrganisation,
    WrongPassphrase,
    _write_new,
)
from hub.crypto.sealing import SUITE_MLKEM768_X25519, SUITE_X25519, mlkem_available

PASSPHRASE = "đèn đỏ ở cửa khẩu Cha Lo"


@pytest.fixture(scope="session")
def cheap_kdf() -> KdfParams:
    # The smallest Argon2id the library accepts: tests exercise the format, not the cost.
    return KdfParams(memory_kib=8, iterations=1, parallelism=1)


@pytest.fixture
def keyring(tmp_path: Path, cheap_kdf: KdfParams) -> Keyring:
    ring = Keyring(tmp_path / "keys", kdf=cheap_kdf)
    ring.init(["QB", "KM"], PASSPHRASE)
    return ring


def fresh(ring: Keyring) -> Keyring:
    """Another keyring object on the same folder: no cached keys."""
    return Keyring(ring.root, kdf=ring.kdf, enc_suite=ring.enc_suite)


def test_init_creates_missing_keys_only(keyring: Keyring) -> None:
    infos = keyring.list_keys()
    assert {(i.org, i.kind, i.version) for i in infos} == {
        (HUB, "sign", 1),
        ("QB", "enc", 1),
        ("QB", "sign", 1),
        ("KM", "enc", 1),
        ("KM", "sign", 1),
    }
    assert all(i.has_private for i in infos)
    assert keyring.init(["QB", "KM"], PASSPHRASE) == []
    added = keyring.init(["QB", "SV"], PASSPHRASE)
    assert {(i.org, i.kind) for i in added} == {("SV", "enc"), ("SV", "sign")}


def test_fingerprint_is_sha256_of_the_public_key(keyring: Keyring) -> None:
    for info in keyring.list_keys():
        public = keyring.load_public(info.org, info.kind, info.version)  # type: ignore[call-overload]
        raw = public.raw if info.kind == "enc" else public.public_bytes_raw()
        assert info.fingerprint == hashlib.sha256(raw).hexdigest()


def test_files_are_private_and_written_whole(keyring: Keyring) -> None:
    for path in keyring.root.rglob("*"):
        assert not path.name.endswith(".tmp"), "temporary file left behind"
        if path.name.endswith(".key.json"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        if path.is_dir():
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
    text = (keyring.root / "QB" / "sign-v1.key.json").read_text()
    raw = keyring.load_private("QB", "sign", 1, PASSPHRASE).private_bytes_raw()
    assert keyring_module.b64encode(raw) not in text
    assert raw.hex() not in text
    data = json.loads((keyring.root / "QB" / "enc-v1.key.json").read_text())
    assert data["kdf"]["memory_kib"] == 8
    assert data["org"] == "QB"
    assert data["fingerprint"] == keyring.list_keys("QB")[0].fingerprint


def test_key_files_are_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "x.key.json"
    _write_new(target, b"one", 0o600)
    with pytest.raises(FileExistsError):
        _write_new(target, b"two", 0o600)
    assert target.read_bytes() == b"one"
    assert [p.name for p in tmp_path.iterdir()] == ["x.key.json"]


def test_private_keys_round_trip(keyring: Keyring) -> None:
    ring = fresh(keyring)
    enc = ring.load_private("KM", "enc", 1, PASSPHRASE)
    assert enc.public == ring.load_public("KM", "enc", 1)
    sign = ring.load_private("QB", "sign", None, PASSPHRASE)
    ring.load_public("QB", "sign").verify(sign.sign(b"m"), b"m")


def test_new_encryption_keys_are_hybrid_when_the_backend_allows(keyring: Keyring) -> None:
    expected = SUITE_MLKEM768_X25519 if mlkem_available() else SUITE_X25519
    assert keyring.load_public("QB", "enc").suite == expected
    info = next(i for i in keyring.list_keys("QB") if i.kind == "enc")
    assert info.suite == expected


def test_x25519_keyring_still_works(tmp_path: Path, cheap_kdf: KdfParams) -> None:
    ring = Keyring(tmp_path, kdf=cheap_kdf, enc_suite=SUITE_X25519)
    ring.init(["SV"], PASSPHRASE)
    assert fresh(ring).load_private("SV", "enc", 1, PASSPHRASE).suite == SUITE_X25519


def test_wrong_passphrase(keyring: Keyring) -> None:
    with pytest.raises(WrongPassphrase):
        fresh(keyring).load_private("QB", "enc", 1, "not the passphrase")
    # A cached key does not let a wrong passphrase through either.
    keyring.load_private("QB", "enc", 1, PASSPHRASE)
    with pytest.raises(WrongPassphrase):
        keyring.load_private("QB", "enc", 1, "not the passphrase")


def test_passphrase_is_unicode_normalised(keyring: Keyring) -> None:
    decomposed = unicodedata.normalize("NFD", PASSPHRASE)
    assert decomposed != PASSPHRASE
    fresh(keyring).load_private("QB", "sign", 1, decomposed)


def test_keys_are_never_added_under_another_passphrase(keyring: Keyring) -> None:
    with pytest.raises(WrongPassphrase):
        fresh(keyring).init(["SV"], "another passphrase")
    with pytest.raises(WrongPassphrase):
        fresh(keyring).rotate("QB", "another passphrase")
    assert not (keyring.root / "SV").exists()


def test_decrypted_keys_are_cached(keyring: Keyring, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = keyring_module._derive
    monkeypatch.setattr(keyring_module, "_derive", lambda *a: calls.append(1) or real(*a))
    ring = fresh(keyring)
    first = ring.load_private("KM", "enc", 1, PASSPHRASE)
    assert ring.load_private("KM", "enc", 1, PASSPHRASE) is first
    assert len(calls) == 1


def test_missing_key(keyring: Keyring) -> None:
    with pytest.raises(KeyNotFound):
        keyring.load_private("QB", "enc", 7, PASSPHRASE)
    with pytest.raises(KeyNotFound):
        keyring.load_public("SV", "sign")
    with pytest.raises(KeyNotFound):
        keyring.latest_version("SV")


def test_organisation_codes_cannot_escape_the_folder(keyring: Keyring) -> None:
    with pytest.raises(ValueError, match="organisation code"):
        keyring.load_public("../QB", "enc", 1)


def corrupt(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def flip_ciphertext(data: dict) -> None:
    ct = bytearray(keyring_module.b64decode(data["cipher"]["ciphertext"]))
    ct[0] ^= 1
    data["cipher"]["ciphertext"] = keyring_module.b64encode(bytes(ct))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(flip_ciphertext, id="ciphertext"),
        pytest.param(lambda d: d.update(created="2020-01-01T00:00:00Z"), id="header"),
        pytest.param(lambda d: d["cipher"].update(nonce="AAAAAAAAAAAAAAAA"), id="nonce"),
        pytest.param(lambda d: d.update(fingerprint="0" * 64), id="fingerprint"),
        pytest.param(lambda d: d["kdf"].update(memory_kib=2**40), id="kdf-bomb"),
        pytest.param(lambda d: d.pop("kdf"), id="missing-kdf"),
        pytest.param(lambda d: d.update(version=2), id="unknown-version"),
        pytest.param(lambda d: d.update(extra="field"), id="extra-field"),
    ],
)
def test_altered_key_file_is_refused(keyring: Keyring, change) -> None:
    corrupt(keyring.root / "KM" / "enc-v1.key.json", change)
    with pytest.raises(CorruptKeyFile):
        fresh(keyring).load_private("KM", "enc", 1, PASSPHRASE)


def test_truncated_key_file_is_refused(keyring: Keyring) -> None:
    path = keyring.root / "KM" / "sign-v1.key.json"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CorruptKeyFile):
        fresh(keyring).load_private("KM", "sign", 1, PASSPHRASE)
    path.write_bytes(b"")
    with pytest.raises(CorruptKeyFile):
        fresh(keyring).load_private("KM", "sign", 1, PASSPHRASE)


def test_key_file_of_another_organisation_is_refused(keyring: Keyring) -> None:
    qb = keyring.root / "QB" / "enc-v1.key.json"
    qb.unlink()
    shutil.copy(keyring.root / "KM" / "enc-v1.key.json", qb)
    with pytest.raises(WrongOrganisation):
        fresh(keyring).load_private("QB", "enc", 1, PASSPHRASE)
    # Relabelling the copy does not help: the organisation is authenticated data.
    corrupt(qb, lambda d: d.update(org="QB"))
    with pytest.raises(CorruptKeyFile):
        fresh(keyring).load_private("QB", "enc", 1, PASSPHRASE)


def test_rotation_adds_a_version_and_keeps_the_old(keyring: Keyring) -> None:
    assert keyring.rotate("KM", PASSPHRASE) == 2
    assert keyring.latest_version("KM") == 2
    assert keyring.latest_version("KM", "sign") == 2
    ring = fresh(keyring)
    old = ring.load_private("KM", "enc", 1, PASSPHRASE)
    new = ring.load_private("KM", "enc", None, PASSPHRASE)
    assert old.public != new.public
    assert [i.version for i in ring.list_keys("KM") if i.kind == "enc"] == [1, 2]
    assert keyring.rotate(HUB, PASSPHRASE) == 2
    assert {i.kind for i in keyring.list_keys(HUB)} == {"sign"}


def test_rotating_an_unknown_organisation_is_refused(keyring: Keyring) -> None:
    with pytest.raises(KeyNotFound):
        keyring.rotate("QBB", PASSPHRASE)


def test_public_keys_travel_between_keyrings(
    keyring: Keyring, tmp_path: Path, cheap_kdf: KdfParams
) -> None:
    keyring.rotate("QB", PASSPHRASE)
    partner = Keyring(tmp_path / "partner", kdf=cheap_kdf)
    partner.init(["KM"], PASSPHRASE)
    text = keyring.export_public("QB")
    # Field names, not substrings: a random base64 public key may spell "kdf".
    exported = json.dumps(json.loads(text), separators=(",", ":"))
    assert '"ciphertext":' not in exported
    assert '"kdf":' not in exported

    fingerprints = partner.import_public(text)

    ours = {i.fingerprint for i in keyring.list_keys("QB")}
    assert set(fingerprints) == ours
    theirs = partner.list_keys("QB")
    assert {i.fingerprint for i in theirs} == ours
    assert not any(i.has_private for i in theirs)
    assert partner.load_public("QB", "enc") == keyring.load_public("QB", "enc")
    assert partner.import_public(text) == fingerprints  # idempotent
    signers = partner.known_signers()
    assert {(s.org, s.version) for s in signers.values()} >= {("QB", 1), ("QB", 2), ("KM", 1)}
    assert all(s.org != HUB for s in signers.values())


def test_import_refuses_a_different_key_at_the_same_version(
    keyring: Keyring, tmp_path: Path, cheap_kdf: KdfParams
) -> None:
    impostor = Keyring(tmp_path / "impostor", kdf=cheap_kdf)
    impostor.init(["QB", "SV"], PASSPHRASE)
    impostor.rotate("SV", PASSPHRASE)
    before = sorted(p.name for p in (keyring.root / "QB").iterdir())
    with pytest.raises(KeyConflict):
        keyring.import_public(impostor.export_public("QB"))
    assert sorted(p.name for p in (keyring.root / "QB").iterdir()) == before
    # A brand-new organisation imports fine.
    assert len(keyring.import_public(impostor.export_public("SV"))) == 4


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda d: d["keys"][0].update(fingerprint="ab" * 32), id="fingerprint"),
        pytest.param(lambda d: d["keys"][0].update(public_key="AAAA"), id="key-bytes"),
        pytest.param(lambda d: d.update(version=9), id="version"),
        pytest.param(lambda d: d.update(org="../x"), id="org"),
    ],
)
def test_import_refuses_a_malformed_export(keyring: Keyring, change) -> None:
    data = json.loads(keyring.export_public("KM"))
    change(data)
    with pytest.raises((CorruptKeyFile, ValueError)):
        keyring.import_public(json.dumps(data))


def test_the_hub_folder_cannot_be_imported_over(keyring: Keyring) -> None:
    with pytest.raises(WrongOrganisation):
        keyring.import_public(keyring.export_public(HUB))


def test_default_parameters_are_strong_and_recorded(tmp_path: Path) -> None:
    assert (DEFAULT_KDF.memory_kib, DEFAULT_KDF.iterations, DEFAULT_KDF.parallelism) == (
        65536,
        3,
        4,
    )
    ring = Keyring(tmp_path)
    ring.init([], PASSPHRASE)  # the hub signing key only: one real Argon2id run
    kdf = json.loads((tmp_path / HUB / "sign-v1.key.json").read_text())["kdf"]
    assert (kdf["name"], kdf["memory_kib"], kdf["iterations"], kdf["parallelism"]) == (
        "argon2id",
        65536,
        3,
        4,
    )
    assert len(keyring_module.b64decode(kdf["salt"])) == 16


def test_a_swapped_public_key_of_our_own_is_refused(keyring: Keyring) -> None:
    # Someone replaces QB's public file with a key of their own (relabelled as QB).
    ours = keyring.root / "QB" / "enc-v1.pub.json"
    ours.unlink()
    shutil.copy(keyring.root / "KM" / "enc-v1.pub.json", ours)
    corrupt(ours, lambda d: d.update(org="QB"))
    with pytest.raises(CorruptKeyFile, match="does not match the private key"):
        keyring.load_public("QB", "enc", 1)


def test_listed_fingerprints_are_recomputed(keyring: Keyring) -> None:
    corrupt(keyring.root / "KM" / "sign-v1.pub.json", lambda d: d.update(fingerprint="ab" * 32))
    with pytest.raises(CorruptKeyFile, match="fingerprint"):
        keyring.list_keys("KM")
